// Hypercore side of the benchmark: appends the given entries (a file of 4-byte
// big-endian length + bytes records) to a new core on disk, then serves replication on
// 127.0.0.1 until stdin closes. Prints one JSON line: {"key", "port", "blocks", "append_ms"}.
import fs from 'node:fs'
import net from 'node:net'
import Hypercore from 'hypercore'

const [storage, entriesFile] = process.argv.slice(2)
const data = fs.readFileSync(entriesFile)
const blocks = []
for (let at = 0; at < data.length;) {
  const len = data.readUInt32BE(at)
  blocks.push(data.subarray(at + 4, at + 4 + len))
  at += 4 + len
}

const core = new Hypercore(storage)
await core.ready()
const started = performance.now()
for (let i = 0; i < blocks.length; i += 1000) {
  await core.append(blocks.slice(i, i + 1000))
}
const appendMs = performance.now() - started

const server = net.createServer((socket) => {
  socket.on('error', () => {})
  const stream = core.replicate(false)
  stream.on('error', () => {})
  socket.pipe(stream).pipe(socket)
})
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({
    key: core.key.toString('hex'),
    port: server.address().port,
    blocks: core.length,
    append_ms: appendMs
  }))
})
process.stdin.resume()
process.stdin.on('end', async () => {
  server.close()
  await core.close()
  process.exit(0)
})
