from ovserve.frontend.http_front import main

if __name__ == "__main__":
    raise SystemExit(main())
