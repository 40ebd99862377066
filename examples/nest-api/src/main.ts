import { Logger } from '@nestjs/common'
import { createNestApi } from './createNestApi.js'

const port = Number(process.env.PORT ?? 3000)
const app = await createNestApi()
// SIGINT and SIGTERM run app.close(): syncs in flight finish before the process exits.
app.enableShutdownHooks()
await app.listen(port, '127.0.0.1')

const api = `http://127.0.0.1:${port}/api`
const logger = new Logger('NestApi')
logger.log(`Listening on ${api}. Try:`)
logger.log(`  curl -H 'x-user-id: alice' ${api}/me/portfolio`)
logger.log(`  curl -H 'x-user-id: alice' ${api}/syncfolio/connections`)
logger.log(`  curl -H 'x-user-id: bob' -N ${api}/syncfolio/events`)
logger.log('Press Ctrl-C to stop.')
