"""Product images, drawn as SVG from the product itself.

The demo catalog needs a picture per product without shipping binary assets;
a deterministic SVG (colours from the SKU, a motif per category, the name)
serves as a real ``image/svg+xml`` response that browsers cache.
"""

from __future__ import annotations

import hashlib
from html import escape

_MOTIFS = {
    "kitchen": '<circle cx="200" cy="150" r="70" fill="none" stroke="white" stroke-width="14"/>'
    '<rect x="265" y="140" width="80" height="20" rx="10" fill="white"/>',
    "outdoors": '<path d="M80 230 L170 90 L230 180 L270 130 L330 230 Z" '
    'fill="white" opacity="0.9"/>',
    "books": '<rect x="130" y="70" width="140" height="170" rx="8" fill="white" opacity="0.9"/>'
    '<rect x="150" y="95" width="100" height="10" fill="#0003"/>',
    "audio": '<circle cx="200" cy="150" r="80" fill="white" opacity="0.9"/>'
    '<circle cx="200" cy="150" r="25" fill="#0004"/>',
    "apparel": '<path d="M140 80 L200 100 L260 80 L310 130 L280 160 L270 240 L130 240 L120 160 '
    'L90 130 Z" fill="white" opacity="0.9"/>',
    "home": '<path d="M100 160 L200 80 L300 160 L300 240 L100 240 Z" fill="white" opacity="0.9"/>',
}
_DEFAULT = '<rect x="120" y="80" width="160" height="160" rx="24" fill="white" opacity="0.9"/>'


def _colour(seed: bytes, offset: int) -> str:
    hue = int.from_bytes(seed[offset : offset + 2], "big") % 360
    return f"hsl({hue}, 62%, 52%)"


def product_svg(sku: str, name: str, category: str | None) -> str:
    seed = hashlib.sha256(sku.encode()).digest()
    motif = _MOTIFS.get(category or "", _DEFAULT)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="320" viewBox="0 0 400 320">'
        '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="{_colour(seed, 0)}"/>'
        f'<stop offset="1" stop-color="{_colour(seed, 2)}"/>'
        "</linearGradient></defs>"
        '<rect width="400" height="320" fill="url(#g)"/>'
        f"{motif}"
        '<text x="200" y="292" font-family="sans-serif" font-size="22" fill="white" '
        f'text-anchor="middle">{escape(name)}</text>'
        "</svg>"
    )
