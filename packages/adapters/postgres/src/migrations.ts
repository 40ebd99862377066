import { connectionTableBody, indexStatements, type Migration } from '@syncfolio/sql'

/** Postgres schema versions, oldest first. Never edit a released one: add the next. */
export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'connections',
    statements: (p) => [
      `CREATE TABLE ${p}connections (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,${connectionTableBody('BIGINT')})`,
      ...indexStatements(p),
    ],
  },
]
