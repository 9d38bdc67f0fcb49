// Node 20 lacks Promise.withResolvers (Node 22+), which it-queue (via libp2p's peer store) calls.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
