import { Module } from '@nestjs/common'
import { AppConfig } from './appConfig.js'

/** Provides `AppConfig` to the modules that import it, like `ConfigModule` from `@nestjs/config`. */
@Module({
  providers: [{ provide: AppConfig, useFactory: () => new AppConfig(process.env) }],
  exports: [AppConfig],
})
export class AppConfigModule {}
