// A tiny aedes broker for ectool's tests: an MQTT broker that speaks only
// 3.1 and 3.1.1 (aedes answers an MQTT 5 CONNECT with a 3.1.1 CONNACK 0x01
// "unacceptable protocol version"), as many brokers in the field do.
//
//   node server.mjs [--host 127.0.0.1] [--port 0] [--user NAME:PASSWORD]
//
// It prints "listening PORT" on stdout once it accepts connections (port 0
// picks a free one) and runs until stdin closes or it gets SIGTERM, so a
// test that dies never leaves it behind. With --user, only that user gets
// in (CONNACK 5 "not authorized" otherwise, as aedes answers).
import net from 'node:net'
import { parseArgs } from 'node:util'
import { Aedes } from 'aedes'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
    user: { type: 'string' }
  }
})

const broker = await Aedes.createBroker()
if (values.user) {
  const i = values.user.indexOf(':')
  const name = values.user.slice(0, i)
  const pass = values.user.slice(i + 1)
  broker.authenticate = (client, username, password, done) => {
    const ok = username === name && password !== undefined && password.toString() === pass
    if (ok) return done(null, true)
    const err = new Error('bad user name or password')
    err.returnCode = 4
    done(err, false)
  }
}

const server = net.createServer(broker.handle)
server.on('error', (err) => {
  process.stderr.write(`aedes: ${err.message}\n`)
  process.exit(1)
})
server.listen(Number(values.port), values.host, () => {
  process.stdout.write(`listening ${server.address().port}\n`)
})

function stop () {
  server.close()
  broker.close(() => process.exit(0))
}
process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
