"""``python -m bench`` (``make bench``): every benchmark against a throwaway cluster."""

from bench.runner import main

raise SystemExit(main())
