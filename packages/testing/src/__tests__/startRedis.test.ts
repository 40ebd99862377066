import { connect } from 'node:net'
import { expect, it } from 'vitest'
import { startRedis } from '../services/index.js'

function send(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.once('error', reject)
    socket.on('connect', () => socket.write(command))
    socket.on('data', (chunk) => {
      answer += chunk.toString()
      if (answer.endsWith('\r\n')) {
        socket.destroy()
        resolve(answer)
      }
    })
  })
}

it('starts a Redis of its own on a free port with no persistence, and stops it', async () => {
  const redis = await startRedis()
  try {
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`)
    expect(await send(redis.port, 'SET k v\r\n')).toBe('+OK\r\n')
    expect(await send(redis.port, 'GET k\r\n')).toBe('$1\r\nv\r\n')
    expect(await send(redis.port, 'CONFIG GET save\r\n')).toContain('$0\r\n\r\n')
  } finally {
    await redis.stop()
  }
  await expect(send(redis.port, 'PING\r\n')).rejects.toThrow(/ECONNREFUSED/)
})

it('says what to install when there is no redis-server', async () => {
  await expect(startRedis({ binary: '/nonexistent/redis-server' })).rejects.toThrow(
    /does not exist; install redis-server/,
  )
})
