// Hypercore side of the benchmark: opens an empty core for `key` on disk, connects to
// the writer over TCP, downloads every block and checks the count and total bytes.
// Prints one JSON line: {"blocks", "bytes", "bytes_read", "ms", "ms_since_start"}: ms
// from the start of the connection to the last block stored, and from the start of the
// process to the same moment (the check that reads every block back comes after).
import net from 'node:net'
import Hypercore from 'hypercore'

const [storage, key, port, expectedBlocks, expectedBytes] = process.argv.slice(2)
const core = new Hypercore(storage, Buffer.from(key, 'hex'))
await core.ready()

const started = performance.now()
const socket = net.connect(Number(port), '127.0.0.1')
const stream = core.replicate(true)
socket.pipe(stream).pipe(socket)

const blocks = Number(expectedBlocks)
while (core.length < blocks) await core.update({ wait: true })
await core.download({ start: 0, end: blocks }).done()
const done = performance.now()
const ms = done - started

let bytes = 0
for (let i = 0; i < blocks; i++) bytes += (await core.get(i, { wait: false })).length
if (core.contiguousLength !== blocks || bytes !== Number(expectedBytes)) {
  console.error(`expected ${blocks} blocks of ${expectedBytes} bytes, have ${core.contiguousLength} of ${bytes}`)
  process.exit(1)
}
console.log(JSON.stringify({ blocks, bytes, bytes_read: socket.bytesRead, ms, ms_since_start: done }))
socket.destroy()
await core.close()
process.exit(0)
