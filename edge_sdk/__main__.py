from edge_sdk.cli import main

raise SystemExit(main())
