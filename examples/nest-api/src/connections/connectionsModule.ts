import { Module } from '@nestjs/common'
import { ConnectionsController } from './connectionsController.js'
import { ConnectionsService } from './connectionsService.js'

/** Needs no import of SyncfolioModule: it is declared `global` in AppModule. */
@Module({ controllers: [ConnectionsController], providers: [ConnectionsService] })
export class ConnectionsModule {}
