import { describeSyncStoreConformance } from '@syncfolio/testing'
import { MemoryStore } from '../store/memoryStore.js'

describeSyncStoreConformance('MemoryStore', () => new MemoryStore())
