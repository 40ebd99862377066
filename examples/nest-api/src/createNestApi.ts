import type { INestApplication, NestApplicationOptions } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { AppModule } from './appModule.js'

/** The app, created and configured but not listening: main.ts listens, tests listen on port 0. */
export async function createNestApi(options: NestApplicationOptions = {}): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule, options)
  app.setGlobalPrefix('api')
  return app
}
