package serve

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"

	"paas/controller"
	"paas/runtime"
)

// Settings are everything "paas server" can be told. Each field is a
// flag; each flag can also come from the environment (PAAS_ and the flag
// name in upper case with '_' for '-') or from the config file (the flag
// name as key). A flag given on the command line wins over the
// environment, which wins over the file, which wins over the default.
type Settings struct {
	ConfigFile    string
	DataDir       string
	Database      string
	Listen        string
	SSHListen     string
	TLSListen     string
	ACMEDirectory string
	ACMEEmail     string
	ACMECAFile    string
	GitHost       string
	// APIHosts are the server's own host names, comma-separated: the
	// API and dashboard answer there and no app may hold one. Empty
	// means derived (see DeriveAPIHosts).
	APIHosts     string
	BaseDomain   string
	Containerd   string
	Namespace    string
	Bridge       string
	Subnet       string
	CNIPluginDir string
	BuildBridge  string
	BuildSubnet  string
	GoProxy      string
	NPMRegistry  string
	PipIndexURL  string
	CABundle     string
	// MetricsTokenFile holds the bearer token that may read /metrics.
	MetricsTokenFile string
	// MaxConnsPerClient and MinBodyRate are the router's limits of the
	// same names; 0 is the router's default, negative none.
	MaxConnsPerClient int
	MinBodyRate       int64
	// UserNSRange is the host range HOST:SIZE that the uids and gids of
	// every container paas starts map to (runtime.ParseIDMap).
	UserNSRange string
	// AllowUncontained lets paas build and run without a user namespace
	// on a kernel that lacks what it needs (containers' root is then the
	// host's root): only where every user is trusted.
	AllowUncontained bool
	// TrustForwardedProto: behind a proxy that terminates TLS, believe its
	// X-Forwarded-Proto (dashboard cookies get Secure).
	TrustForwardedProto bool
	StopGrace           time.Duration
	HealthTimeout       time.Duration
	LogLevel            string
	LogFormat           string
	ShutdownTimeout     time.Duration
	// Limits are the quotas on instances, builds, apps and users.
	Limits Limits
}

// DefaultConfigFile is read if it exists and no other file is named.
const DefaultConfigFile = "/etc/paas/paas.toml"

func (s *Settings) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.ConfigFile, "config", DefaultConfigFile, "config file (TOML, keys are these flags' names); read only if it exists, unless named explicitly")
	fs.StringVar(&s.DataDir, "data-dir", "/var/lib/paas", "directory for the database, keys and repositories")
	fs.StringVar(&s.Database, "database", "", "state store: a postgres:// DSN, or a SQLite file (default <data-dir>/paas.db)")
	fs.StringVar(&s.Listen, "listen", ":8000", "HTTP address of the API and dashboard (and app traffic once the router runs)")
	fs.StringVar(&s.SSHListen, "ssh-listen", ":2222", "SSH address for git push")
	fs.StringVar(&s.TLSListen, "tls-listen", "", "HTTPS address for apps with certificates (paas certs:add), e.g. :443; empty for none")
	fs.StringVar(&s.ACMEDirectory, "acme-directory", "", "ACME directory URL of a CA for automatic certificates of custom domains; empty for none")
	fs.StringVar(&s.ACMEEmail, "acme-email", "", "contact address for the ACME account")
	fs.StringVar(&s.ACMECAFile, "acme-ca-file", "", "PEM roots to trust for the ACME server's own HTTPS (a private or test CA); empty for the system's")
	fs.StringVar(&s.GitHost, "git-host", "", "host name in git remote URLs (default: the host the CLI talks to)")
	fs.StringVar(&s.APIHosts, "api-hosts", "", "the server's own host names, comma-separated: the API and dashboard answer there before any app, and no app may take one or a wildcard that covers one (default: the --git-host, the --listen host, the machine's host name and localhost)")
	fs.StringVar(&s.BaseDomain, "base-domain", "localhost", "apps answer at <app>.<base-domain>")
	fs.StringVar(&s.Containerd, "containerd", "/run/containerd/containerd.sock", "containerd socket")
	fs.StringVar(&s.Namespace, "namespace", "paas", "containerd namespace for everything paas runs")
	fs.StringVar(&s.Bridge, "bridge", "paas0", "Linux bridge of the instances' network (one per install, at most 15 characters)")
	fs.StringVar(&s.Subnet, "subnet", "10.77.0.0/16", "addresses of the instances' network")
	fs.StringVar(&s.BuildBridge, "build-bridge", "paasbuild0", "Linux bridge of the builder's RUN steps")
	fs.StringVar(&s.BuildSubnet, "build-subnet", "10.78.0.0/16", "addresses of the builder's RUN steps")
	fs.StringVar(&s.GoProxy, "goproxy", "", "Go module proxy for the Go buildpack (default: GOPROXY of the server's environment)")
	fs.StringVar(&s.NPMRegistry, "npm-registry", "", "npm registry for the Node.js buildpack (node, npm and packages; default: npm_config_registry of the server's environment, else the host's npm config)")
	fs.StringVar(&s.PipIndexURL, "pip-index-url", "", "Python package index for the Python buildpack (default: PIP_INDEX_URL of the server's environment, else the host's pip config)")
	fs.BoolVar(&s.TrustForwardedProto, "trust-forwarded-proto", false, "behind a TLS-terminating proxy: believe its X-Forwarded-Proto (dashboard session cookies are then marked Secure); only if clients cannot reach paas directly")
	fs.StringVar(&s.CABundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "host CA certificates given to buildpacks (for proxies that re-sign TLS); empty for the stack's own")
	fs.StringVar(&s.MetricsTokenFile, "metrics-token-file", "", "file holding a bearer token (at least 32 characters) that may read /metrics, for Prometheus; admins' API tokens may read it too; empty for admins only")
	fs.IntVar(&s.MaxConnsPerClient, "max-conns-per-client", 256, "connections one client address may hold open at once (apps and the API together); over it: 429 and close; -1 for no limit")
	fs.Int64Var(&s.MinBodyRate, "min-body-rate", 500, "least average pace of a request body, in bytes per second, past the first 60 s of waiting for it; slower clients get 408; -1 for none")
	fs.StringVar(&s.UserNSRange, "userns-range", runtime.DefaultUserNS.String(), "HOST:SIZE: the host uids and gids that uid and gid 0… of apps and builds map to (a user namespace; at least 65536, not 0)")
	fs.BoolVar(&s.AllowUncontained, "allow-uncontained", false, "on a kernel without user namespaces or id-mapped overlayfs (paas doctor names what lacks), build and run apps anyway, as the host's root: only if every user is trusted")
	fs.StringVar(&s.CNIPluginDir, "cni-plugin-dir", "/usr/lib/cni", "directory of the CNI plugins (bridge, host-local, loopback)")
	fs.DurationVar(&s.StopGrace, "stop-grace", 30*time.Second, "time between SIGTERM and SIGKILL when an instance stops")
	fs.DurationVar(&s.HealthTimeout, "health-timeout", 60*time.Second, "how long a new web instance has to listen on $PORT")
	fs.StringVar(&s.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&s.LogFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long to let requests finish on shutdown")
	s.Limits.register(fs)
	// Every flag's help names its environment variable too.
	fs.VisitAll(func(f *pflag.Flag) {
		f.Usage += " [env " + envName(f.Name) + "]"
	})
}

func envName(flag string) string {
	return "PAAS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// resolve fills the flags not given on the command line from the
// environment and then from the config file.
func (s *Settings) resolve(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	cfgFlag := fs.Lookup("config")
	if !cfgFlag.Changed {
		if v, ok := lookupEnv(envName("config")); ok {
			if err := cfgFlag.Value.Set(v); err != nil {
				return err
			}
			cfgFlag.Changed = true
		}
	}
	file, err := readConfigFile(s.ConfigFile, cfgFlag.Changed)
	if err != nil {
		return err
	}
	for key := range file {
		if f := fs.Lookup(strings.ReplaceAll(key, "_", "-")); f == nil || f.Name == "config" {
			return fmt.Errorf("config file %s: unknown setting %q", s.ConfigFile, key)
		}
	}
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		source, value, ok := "", "", false
		if v, found := lookupEnv(envName(f.Name)); found {
			source, value, ok = envName(f.Name), v, true
		} else if v, found := file[f.Name]; found {
			source, value, ok = "config file "+s.ConfigFile, v, true
		} else if v, found := file[strings.ReplaceAll(f.Name, "-", "_")]; found {
			source, value, ok = "config file "+s.ConfigFile, v, true
		}
		if ok {
			if err := f.Value.Set(value); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %s: %v", source, f.Name, err))
			}
		}
	})
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return s.check()
}

// readConfigFile reads a flat TOML file into flag values. A missing file
// is fine unless it was named explicitly.
func readConfigFile(path string, explicit bool) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := toml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case string, int64, float64, bool:
			out[k] = fmt.Sprint(v)
		case []any: // a list of strings, as a flag's comma-separated value
			items := make([]string, 0, len(v))
			for _, it := range v {
				str, ok := it.(string)
				if !ok || strings.Contains(str, ",") {
					return nil, fmt.Errorf("config file %s: %s: want a list of strings without commas", path, k)
				}
				items = append(items, str)
			}
			out[k] = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("config file %s: %s: want a string, number, boolean or list of strings", path, k)
		}
	}
	return out, nil
}

func (s *Settings) check() error {
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("invalid log level %q: use debug, info, warn or error", s.LogLevel)
	}
	switch s.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("invalid log format %q: use text or json", s.LogFormat)
	}
	if _, err := runtime.ParseIDMap(s.UserNSRange); err != nil {
		return err
	}
	if s.DataDir == "" {
		return fmt.Errorf("no data directory: set --data-dir")
	}
	if s.ShutdownTimeout <= 0 {
		return fmt.Errorf("shutdown timeout must be positive")
	}
	if _, err := controller.ParseAPIHosts(strings.Split(s.APIHosts, ",")); err != nil {
		return fmt.Errorf("--api-hosts: %w", err)
	}
	return s.Limits.check()
}

// DeriveAPIHosts returns the server's own host names: those of
// --api-hosts if it is set; else the --git-host, the host of --listen
// (unless it listens on every address), the machine's host name
// (hostname, e.g. os.Hostname) and localhost. Names are lower case,
// without ports, without duplicates.
func (s *Settings) DeriveAPIHosts(hostname func() (string, error)) ([]string, error) {
	if strings.TrimSpace(s.APIHosts) != "" {
		return controller.ParseAPIHosts(strings.Split(s.APIHosts, ","))
	}
	names := []string{s.GitHost}
	if h, _, err := net.SplitHostPort(s.Listen); err == nil {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			names = append(names, h)
		}
	}
	if h, err := hostname(); err == nil {
		names = append(names, h)
	}
	names = append(names, "localhost")
	var out []string
	for _, n := range names {
		// A name that is not a valid host name cannot be an app's
		// domain either: leave it out rather than fail the start.
		if hs, err := controller.ParseAPIHosts([]string{n}); err == nil {
			out = append(out, hs...)
		}
	}
	return controller.ParseAPIHosts(out)
}

// minMetricsToken is the shortest metrics token accepted, in bytes.
const minMetricsToken = 32

// metricsToken reads the metrics token from MetricsTokenFile: "" if none is
// set, an error if the file cannot be read or the token is too short.
func (s *Settings) metricsToken() (string, error) {
	if s.MetricsTokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(s.MetricsTokenFile)
	if err != nil {
		return "", fmt.Errorf("metrics token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minMetricsToken || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("metrics token in %s: want one word of at least %d characters (e.g. openssl rand -hex 32)", s.MetricsTokenFile, minMetricsToken)
	}
	return tok, nil
}
