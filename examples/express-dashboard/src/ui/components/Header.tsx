export function Header() {
  return (
    <header className="header">
      <div className="header__inner">
        <a className="brand" href="/">
          <svg className="brand__mark" viewBox="0 0 32 32" aria-hidden="true">
            <rect width="32" height="32" rx="8" />
            <path d="M9 19a7 7 0 0 0 13 3M23 13a7 7 0 0 0-13-3" />
          </svg>
          syncfolio
        </a>
        <nav className="header__nav" aria-label="Main">
          <a href="/" aria-current="page">
            Portfolio
          </a>
        </nav>
        <div className="header__user">
          <span className="tag">Demo</span>
          <span className="avatar" aria-hidden="true">
            DU
          </span>
          <span className="header__name">Demo user</span>
        </div>
      </div>
    </header>
  )
}
