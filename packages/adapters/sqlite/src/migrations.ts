import { connectionTableBody, indexStatements, type Migration } from '@syncfolio/sql'

/** SQLite schema versions, oldest first. Never edit a released one: add the next. */
export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'connections',
    statements: (p) => [
      `CREATE TABLE ${p}connections (seq INTEGER PRIMARY KEY AUTOINCREMENT,${connectionTableBody('INTEGER')})`,
      ...indexStatements(p),
    ],
  },
]
