/** Colours of the demo's assets; others get one derived from the symbol. */
const ASSET_COLOURS: Readonly<Record<string, string>> = {
  BTC: '#f7931a',
  ETH: '#627eea',
  BNB: '#d4a20b',
  SOL: '#9945ff',
  USDT: '#26a17b',
  USDC: '#2775ca',
}

export function AssetIcon({ asset }: { asset: string }) {
  const colour =
    ASSET_COLOURS[asset] ?? `hsl(${[...asset].reduce((sum, char) => sum + char.charCodeAt(0), 0) % 360} 45% 50%)`
  return (
    <span className="asset-icon" style={{ background: colour }} aria-hidden="true">
      {asset.slice(0, 1)}
    </span>
  )
}
