import { Module } from '@nestjs/common'
import { DemoSeeder } from './demoSeeder.js'

/** Demo data only: the connections Alice and Bob already have. */
@Module({ providers: [DemoSeeder] })
export class DemoModule {}
