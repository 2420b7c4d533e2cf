#!/usr/bin/python3
"""A Modbus slave on Debian's python3-pymodbus 3.0.0 (rc1 API), started by
probe/modbus tests as an independent peer.

  pymodbus_slave.py tcp PORT UNITS [WORDS]        Modbus TCP on 127.0.0.1:PORT
  pymodbus_slave.py serial DEVICE UNITS [WORDS]   RTU on a serial device (a socat PTY)

UNITS is a comma list of unit ids; unit N holds N*100+i in holding and input
register i and answers FC 0x11 and 0x2B/0x0E with vendor "pymodbus-N".
WORDS, a comma list of hex words, replaces the first registers of every unit
(holding and input alike), for tests that need chosen bit patterns.
Unknown unit ids are ignored (no reply), as on a real bus. Prints "ready"
once listening.
"""
import asyncio
import logging
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.device import ModbusDeviceIdentification
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

logging.basicConfig(level=logging.CRITICAL)
for name in ("pymodbus", "pymodbus.server", "pymodbus.server.async_io"):
    logging.getLogger(name).setLevel(logging.CRITICAL)


def context(units, words):
    slaves = {}
    for u in units:
        regs = [u * 100 + i for i in range(100)]
        regs[:len(words)] = words
        slaves[u] = ModbusSlaveContext(
            di=ModbusSequentialDataBlock(0, [0] * 100),
            co=ModbusSequentialDataBlock(0, [0] * 100),
            hr=ModbusSequentialDataBlock(0, [0] + regs),  # pymodbus offsets addresses by 1
            ir=ModbusSequentialDataBlock(0, [0] + regs),
            zero_mode=False,
        )
    return ModbusServerContext(slaves=slaves, single=False)


def identity(tag):
    ident = ModbusDeviceIdentification()
    ident.VendorName = "pymodbus-" + tag
    ident.ProductCode = "PM"
    ident.MajorMinorRevision = "3.0.0"
    return ident


async def main():
    mode, where, units = sys.argv[1], sys.argv[2], [int(u) for u in sys.argv[3].split(",")]
    words = [int(w, 16) for w in sys.argv[4].split(",")] if len(sys.argv) > 4 else []
    ctx = context(units, words)
    ident = identity(sys.argv[3])
    if mode == "tcp":
        server = await StartAsyncTcpServer(context=ctx, identity=ident, address=("127.0.0.1", int(where)),
                                           framer=ModbusSocketFramer, defer_start=True,
                                           ignore_missing_slaves=True, allow_reuse_address=True)
    else:
        server = await StartAsyncSerialServer(context=ctx, identity=ident, port=where, baudrate=9600,
                                              framer=ModbusRtuFramer, defer_start=True,
                                              ignore_missing_slaves=True, timeout=0.005)
        # 3.0.0rc1: the serial server drops its identity (it rebuilds its
        # control block after copying it) and only opens the port in start().
        server.control.Identity.update(ident)
        await server.start()
    print("ready", flush=True)
    await server.serve_forever()


asyncio.run(main())
