# Installs what building and testing NitroIDE needs and is missing: Debian
# packages (with apt-get) and the front end's npm packages. Sourced by
# scripts/start and .ci/test: `need_debs pkg...`, `need_ui`.

# Installs the Debian packages among "$@" that are not installed yet.
need_debs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing ${missing[*]} ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# What the desktop app (Tauri on WebKitGTK) needs to build.
APP_DEBS=(libwebkit2gtk-4.1-dev build-essential curl wget file libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev pkg-config desktop-file-utils)

# Node.js and npm, from Debian unless some other Node.js (which brings its
# own npm) is installed already.
need_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    need_debs nodejs npm
  fi
  # The front end's build (Vite 8) needs Node.js 20.19 or newer.
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 20 ]; then
    echo "Node.js $(node --version) is too old for the front end's build: install Node.js 20 or newer." >&2
    exit 1
  fi
}

# The front end's packages, and its build (ui/dist, which the app embeds).
need_ui() {
  if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules ]; then
    npm ci --prefix ui --no-audit --no-fund
  fi
  npm run --prefix ui build >/dev/null
}
