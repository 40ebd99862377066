import { describeSyncStoreConformance } from '@syncfolio/testing/conformance'
import { MemoryStore } from '../store/memoryStore.js'

describeSyncStoreConformance('MemoryStore', () => new MemoryStore())
