from emotui.cli.main import main

raise SystemExit(main())
