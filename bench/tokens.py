"""How good is the SQL token estimate? ``python -m bench.tokens`` (needs DATABASE_URL and node).

The estimate (``private.estimate_tokens``, the count a message gets when its metadata reports
none) is compared with real BPE tokenizers, OpenAI's ``o200k_base`` (GPT-4o and later) and
``cl100k_base`` (GPT-4, GPT-3.5), as the npm package ``gpt-tokenizer`` ships them: its ranks
are embedded in the package, so it counts offline. It is installed into a temporary folder
for this script only (``npm install gpt-tokenizer``), never a dependency of the service.

Samples, varied and real rather than invented: English (the docstrings of the standard
library's modules, and the English source strings of the machine's message catalogues), code
(the standard library's source), CJK (the Chinese, Japanese and Korean translations in those
message catalogues), each cut into pieces of 20 to 4,000 characters. Printed: p50 and p99 of
estimate / true per category and tokenizer, and, for whole prompts (10-message windows), the
estimate summed over the window against the prompt tokens two providers report: the offline
provider (words) and a mocked OpenAI-compatible provider (o200k plus OpenAI's 3 tokens per
message and 3 for the reply's priming).
"""

from __future__ import annotations

import gettext
import inspect
import json
import os
import pkgutil
import random
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg

from app.llm.offline import OfflineProvider
from app.llm.provider import ChatMessage, CompletionRequest
from bench.latency import percentile

__all__ = ["main"]

LOCALES = Path("/usr/share/locale")
SAMPLES_PER_CATEGORY = 600
_COUNTER = """
const {encode: o200k} = require('gpt-tokenizer/cjs/encoding/o200k_base');
const {encode: cl100k} = require('gpt-tokenizer/cjs/encoding/cl100k_base');
const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(texts.map(t => [o200k(t).length, cl100k(t).length])));
"""


def _pieces(text: str, rng: random.Random) -> Iterator[str]:
    i = 0
    while i < len(text):
        n = int(rng.choice([20, 60, 150, 400, 1000, 4000]) * rng.uniform(0.7, 1.3))
        piece = text[i : i + n].strip()
        i += n
        if piece:
            yield piece


def _catalogue_strings(languages: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(English source strings, their translations) from the .mo catalogues of `languages`."""
    english: list[str] = []
    translated: list[str] = []
    for language in languages:
        for mo in sorted((LOCALES / language / "LC_MESSAGES").glob("*.mo")):
            try:
                with mo.open("rb") as f:
                    catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
            except (OSError, UnicodeDecodeError, ValueError):
                continue
            for key, value in catalog.items():
                if isinstance(key, str) and key and isinstance(value, str) and value:
                    english.append(key)
                    translated.append(value)
    return english, translated


def _docstrings(limit: int) -> list[str]:
    out: list[str] = []
    for module in sorted(m.name for m in pkgutil.iter_modules() if not m.name.startswith("_")):
        if len(out) >= limit:
            break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = __import__(module)
        except Exception:  # noqa: S112 - a module that does not import has no docstrings to give
            continue
        for _, obj in inspect.getmembers(mod):
            doc = inspect.getdoc(obj) if callable(obj) else None
            if doc and len(doc) > 200:
                out.append(doc)
    return out


def samples(rng: random.Random) -> dict[str, list[str]]:
    english_ui, cjk = _catalogue_strings(("zh_CN", "zh_TW", "ja", "ko"))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code = "\n".join(p.read_text(errors="replace") for p in sorted(stdlib.glob("*.py"))[:80])
    english = "\n\n".join(_docstrings(400)) + "\n" + " ".join(english_ui)
    rng.shuffle(cjk)
    out = {
        "english": list(_pieces(english, rng)),
        "code": list(_pieces(code, rng)),
        "cjk": list(_pieces("".join(cjk), rng)),
    }
    return {k: rng.sample(v, min(SAMPLES_PER_CATEGORY, len(v))) for k, v in out.items()}


def true_counts(texts: list[str]) -> list[tuple[int, int]]:
    """(o200k, cl100k) token counts from gpt-tokenizer, installed into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench-tokens-") as tmp:
        subprocess.run(
            ["npm", "install", "--silent", "--no-save", "--prefix", tmp, "gpt-tokenizer@4.0.0"],
            check=True,
            capture_output=True,
        )
        done = subprocess.run(
            ["node", "-e", _COUNTER],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "NODE_PATH": str(Path(tmp) / "node_modules")},
        )
    return [tuple(x) for x in json.loads(done.stdout)]


def estimates(url: str, texts: list[str]) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select private.estimate_tokens(t) from unnest(%s::text[]) with ordinality u(t, n) order by n",
            (texts,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def main() -> int:
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("DATABASE_URL is not set (a migrated database)")
        return 2
    rng = random.Random(20261203)
    by_category = samples(rng)
    texts = [t for v in by_category.values() for t in v]
    counted = true_counts(texts)
    estimated = estimates(url, texts)
    print("estimate / true tokens, per message (private.estimate_tokens vs gpt-tokenizer)")
    header = ("category", "n", "chars/tok", "o200k p50", "p99", "cl100k p50", "p99")
    print("  {:<10} {:>5} {:>9}  {:>9} {:>6}  {:>10} {:>6}".format(*header))
    i = 0
    for category, items in by_category.items():
        part = slice(i, i + len(items))
        i += len(items)
        o = [e / max(1, c[0]) for e, c in zip(estimated[part], counted[part], strict=True)]
        cl = [e / max(1, c[1]) for e, c in zip(estimated[part], counted[part], strict=True)]
        chars = sum(len(t) for t in items) / max(1, sum(c[0] for c in counted[part]))
        print(
            f"  {category:<10} {len(items):>5} {chars:>9.2f}"
            f"  {percentile(o, 50):>9.2f} {percentile(o, 99):>6.2f}"
            f"  {percentile(cl, 50):>10.2f} {percentile(cl, 99):>6.2f}"
        )

    # Whole prompts: 10-message windows of one category, against what providers report.
    print("\nestimate summed over a 10-message window / the provider's reported prompt tokens")
    print(f"  {'category':<10} {'mocked p50':>10} {'p99':>6}  {'offline p50':>11} {'p99':>6}")
    offline = OfflineProvider()
    i = 0
    for category, items in by_category.items():
        part = list(range(i, i + len(items)))
        i += len(items)
        mocked: list[float] = []
        words: list[float] = []
        for start in range(0, len(part) - 10, 10):
            window = part[start : start + 10]
            estimate = sum(estimated[k] for k in window)
            # OpenAI's accounting: 3 tokens per message, 3 priming the reply.
            mocked.append(estimate / (sum(counted[k][0] + 3 for k in window) + 3))
            request = CompletionRequest(
                messages=[
                    ChatMessage(role="user" if n % 2 == 0 else "assistant", content=texts[k])
                    for n, k in enumerate(window)
                ]
            )
            words.append(estimate / max(1, offline.answer(request).usage.prompt_tokens))
        print(
            f"  {category:<10} {percentile(mocked, 50):>10.2f} {percentile(mocked, 99):>6.2f}"
            f"  {percentile(words, 50):>11.2f} {percentile(words, 99):>6.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
