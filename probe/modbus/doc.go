// Package modbus finds Modbus devices on an RS-485 bus or behind a Modbus TCP
// gateway and proves address collisions.
//
// Start with the codec, shared by every transport and by the lab's bus
// simulator:
//
//   - PDU, PDULen and the request/response builders and parsers in pdu.go:
//     one protocol data unit for RTU and TCP, with the length of every
//     function code's request and response derived from the bytes.
//   - EncodeRTU, DecodeRTU and Splitter in rtu.go: RTU frames and a streaming
//     splitter that cuts bytes into frames by function-code length and CRC,
//     reporting bad-CRC frames, cut frames and noise instead of dropping them.
//   - EncodeMBAP, DecodeMBAP and ReadMBAP in mbap.go: Modbus TCP framing.
//   - CRC16 in crc.go.
//
// The scanner (scan.go) and the passive sniffer (sniff.go) build on it.
package modbus
