// A peermind client written with js-libp2p, built from protocol/SPEC.md alone (no peermind code).
//
// It connects to one node, reads the node's capability ads from gossipsub, then asks it one
// question on /peermind/task/1.0.0 with a task.request it seals and signs itself (msgpack
// envelope, Ed25519 over the domain prefix), and checks every reply envelope the same way.
// It prints one JSON object on stdout and exits 0 when the task was answered, 1 otherwise.
//
//   node peer.mjs --addr /ip4/127.0.0.1/tcp/PORT/p2p/12D3KooW... --network NAME --prompt TEXT
//                 [--max-tokens N] [--ad-wait-s S] [--task-timeout-s S] [--no-stream]
import './polyfill.mjs'
import { createHash, randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { peerIdFromPrivateKey, peerIdFromPublicKey } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { decode, encode } from '@msgpack/msgpack'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

// SPEC section 1
const TASK_PROTOCOL = '/peermind/task/1.0.0'
const ENVELOPE_VERSION = 1
const DOMAIN = new Uint8Array([...new TextEncoder().encode('peermind/envelope/v1'), 0])
// SPEC section 2
const MAX_FRAME = 4 * 1024 * 1024

const { values: opts } = parseArgs({
  options: {
    addr: { type: 'string' },
    network: { type: 'string' },
    prompt: { type: 'string' },
    'max-tokens': { type: 'string', default: '16' },
    'ad-wait-s': { type: 'string', default: '15' },
    'task-timeout-s': { type: 'string', default: '60' },
    'no-stream': { type: 'boolean', default: false },
    'pow-bits': { type: 'string', default: '8' },
  },
})
if (!opts.addr || !opts.network || !opts.prompt) {
  console.error('usage: node peer.mjs --addr MULTIADDR --network NAME --prompt TEXT')
  process.exit(2)
}

const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}
const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])
const decodeMsgpack = (bytes) => decode(bytes, { useBigInt64: true })

/** SPEC sections 3, 5, 6: seal a body as a signed envelope from `key`. */
async function seal (key, msgType, recipient, body) {
  const senderKey = publicKeyToProtobuf(key.publicKey) // 08 01 12 20 || raw (36 bytes)
  const sender = peerIdFromPrivateKey(key).toMultihash().bytes // 00 24 || senderKey (38 bytes)
  const payload = encode([ENVELOPE_VERSION, msgType, sender, senderKey, recipient, Date.now(),
    new Uint8Array(randomBytes(16)), body], { sortKeys: true })
  const signature = await key.sign(concat(DOMAIN, payload))
  return encode([payload, signature])
}

/** SPEC section 7 steps 2-8: the envelope's fields once its signature and signer check out. */
async function open (wire, expectedSender) {
  const outer = decodeMsgpack(wire)
  if (!Array.isArray(outer) || outer.length !== 2 || !(outer[0] instanceof Uint8Array) ||
      !(outer[1] instanceof Uint8Array) || outer[1].length !== 64) throw new Error('malformed envelope')
  const [payload, signature] = outer
  const fields = decodeMsgpack(payload)
  if (!Array.isArray(fields) || fields.length !== 8) throw new Error('malformed payload')
  const [version, msgType, sender, senderKey, recipient, timestampMs, nonce, body] = fields
  if (version !== ENVELOPE_VERSION) throw new Error(`unsupported version ${version}`)
  if (!(senderKey instanceof Uint8Array) || senderKey.length !== 36 ||
      !sameBytes(senderKey.subarray(0, 4), new Uint8Array([8, 1, 18, 32]))) throw new Error('sender_key is not Ed25519')
  const publicKey = publicKeyFromProtobuf(senderKey)
  const signer = peerIdFromPublicKey(publicKey)
  if (!sameBytes(signer.toMultihash().bytes, sender)) throw new Error('sender does not match sender_key')
  if (!(await publicKey.verify(concat(DOMAIN, payload), signature))) throw new Error('bad signature')
  if (expectedSender !== undefined && !signer.equals(expectedSender)) throw new Error(`signed by ${signer}, expected ${expectedSender}`)
  if (!(nonce instanceof Uint8Array) || nonce.length !== 16) throw new Error('malformed nonce')
  return { msgType, signer: signer.toString(), recipient, timestampMs: Number(timestampMs), body }
}

/** SPEC section 2: one frame per envelope, read from a js-libp2p (v2) stream source. */
async function * frames (source) {
  let buffer = new Uint8Array(0)
  for await (const chunk of source) {
    buffer = concat(buffer, chunk.subarray())
    while (buffer.length >= 4) {
      const length = new DataView(buffer.buffer, buffer.byteOffset, 4).getUint32(0)
      if (length > MAX_FRAME) throw new Error(`frame of ${length} bytes exceeds the cap`)
      if (buffer.length < 4 + length) break
      yield buffer.slice(4, 4 + length)
      buffer = buffer.slice(4 + length)
    }
  }
  if (buffer.length) throw new Error('stream ended inside a frame')
}

function frame (envelope) {
  const head = new Uint8Array(4)
  new DataView(head.buffer).setUint32(0, envelope.length)
  return concat(head, envelope)
}

/** The network's proof of work for a peer ID (what trust/_pow.py checks; SPEC 9.1 `pow_nonce`). */
function proofOfWork (network, peerIdText, bits) {
  const challenge = createHash('sha256').update('peermind/pow/v1\0' + network + '\0' + peerIdText).digest()
  for (let nonce = 0n; ; nonce += 1n) {
    const suffix = Buffer.alloc(8)
    suffix.writeBigUInt64BE(nonce)
    const digest = createHash('sha256').update(challenge).update(suffix).digest()
    if (BigInt('0x' + digest.toString('hex')) >> BigInt(256 - bits) === 0n) return nonce
  }
}

const jsonSafe = (_key, value) => typeof value === 'bigint' ? value.toString()
  : value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value

const withTimeout = (promise, seconds, what) => Promise.race([promise, new Promise((_resolve, reject) =>
  setTimeout(() => reject(new Error(`${what}: nothing within ${seconds} s`)), seconds * 1000).unref())])

/** One task.request to `worker` (SPEC 9.2) and its verified reply frames. */
async function ask (worker, target, timeoutS, { stream, forge = false }) {
  const taskId = new Uint8Array(randomBytes(16))
  const body = {
    task_id: taskId,
    kind: 'generate',
    messages: [{ role: 'user', content: opts.prompt }],
    max_tokens: Number(opts['max-tokens']),
    temperature: 0,
    deadline_ms: Date.now() + timeoutS * 1000,
    stream,
  }
  const envelope = await seal(key, 'task.request', worker.toString(), body)
  if (forge) envelope[envelope.length - 1] ^= 1 // the signature is the envelope's last 64 bytes
  const asked = Date.now()
  const task = { task_id: taskId, status: 'no reply', chunks: [], chunk_seq_ok: true, first_chunk_ms: null }
  try {
    const libp2pStream = await node.dialProtocol(target, TASK_PROTOCOL)
    await libp2pStream.sink([frame(envelope)])
    await withTimeout((async () => {
      for await (const bytes of frames(libp2pStream.source)) {
        const reply = await open(bytes, worker)
        if (!sameBytes(reply.body.task_id, taskId)) throw new Error('reply for another task')
        if (reply.recipient !== report.peer_id) throw new Error(`reply addressed to ${reply.recipient}`)
        if (reply.msgType === 'task.chunk') {
          if (Number(reply.body.seq) !== task.chunks.length) task.chunk_seq_ok = false
          task.first_chunk_ms ??= Date.now() - asked
          task.chunks.push(reply.body.text)
          continue
        }
        task.status = reply.msgType
        task.signed_by = reply.signer
        Object.assign(task, reply.body)
        break
      }
    })(), timeoutS + 5, 'task reply')
  } catch (err) {
    task.stream_error = String(err.message ?? err)
  }
  task.total_ms = Date.now() - asked
  task.chunk_text_matches = task.status === 'task.result' && stream ? task.chunks.join('') === task.text : null
  return task
}

const report = { peer_id: '', connected_ms: null, ads_received: 0, first_ad_ms: null, newest_ad: null, ad_errors: [],
  task: null, forged: null, error: null }
const started = Date.now()
const key = await generateKeyPair('Ed25519')
const node = await createLibp2p({
  privateKey: key,
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), pubsub: gossipsub({ emitSelf: false }) },
})
report.peer_id = node.peerId.toString()
try {
  const target = multiaddr(opts.addr)
  const topic = `peermind/${opts.network}/ads/1`
  let firstAd
  const adSeen = new Promise((resolve) => { firstAd = resolve })
  node.services.pubsub.addEventListener('message', (event) => {
    if (event.detail.topic !== topic) return
    open(event.detail.data).then(({ msgType, signer, recipient, body }) => {
      if (msgType !== 'ad.capability') throw new Error(`${msgType} on the ads topic`)
      if (signer !== event.detail.from.toString()) throw new Error('ad signer is not the gossip origin')
      // A gossip mesh also delivers older ads from its message cache: keep the newest (SPEC 9.1).
      report.ads_received += 1
      report.first_ad_ms ??= Date.now() - started
      if (report.newest_ad === null || BigInt(body.seq) > BigInt(report.newest_ad.seq)) {
        report.newest_ad = { signer, recipient, network: body.network, seq: body.seq,
          models: (body.models ?? []).map((m) => m.name), addrs: body.addrs ?? [] }
      }
      firstAd(body)
    }).catch((err) => report.ad_errors.push(String(err.message ?? err)))
  })
  node.services.pubsub.subscribe(topic)
  const connection = await node.dial(target)
  report.connected_ms = Date.now() - started
  const worker = connection.remotePeer
  await withTimeout(adSeen, Number(opts['ad-wait-s']), 'capability ad')

  // Our own ad: a node serves only peers it holds a fresh ad of, with the network's proof of work.
  const powNonce = proofOfWork(opts.network, report.peer_id, Number(opts['pow-bits']))
  const ownAd = {
    network: opts.network,
    addrs: node.getMultiaddrs().map(String),
    ttl_s: 120,
    seq: Date.now(),
    pow_nonce: Number(powNonce),
  }
  await node.services.pubsub.publish(topic, await seal(key, 'ad.capability', topic, ownAd))
  report.pow_nonce = Number(powNonce)

  const timeoutS = Number(opts['task-timeout-s'])
  report.task = await ask(worker, target, timeoutS, { stream: !opts['no-stream'] })
  // A request whose signature has one bit flipped must get no answer (SPEC 7 step 7).
  report.forged = await ask(worker, target, 10, { stream: false, forge: true })
} catch (err) {
  report.error = String(err.message ?? err)
} finally {
  process.stdout.write(JSON.stringify(report, jsonSafe) + '\n')
  await withTimeout(node.stop(), 5, 'stop').catch(() => {})
}
process.exit(report.task?.status === 'task.result' ? 0 : 1)
