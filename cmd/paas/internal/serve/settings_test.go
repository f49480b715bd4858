package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func resolveWith(t *testing.T, args []string, env map[string]string) (Settings, error) {
	t.Helper()
	var s Settings
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	s.register(fs)
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	err := s.resolve(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return s, err
}

// TestSettingsPrecedence: command line over environment over config file
// over default.
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "paas.toml")
	err := os.WriteFile(file, []byte("data-dir = \"/from/file\"\nlisten = \"127.0.0.1:1\"\nbase_domain = \"file.test\"\nshutdown-timeout = \"3s\"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s, err := resolveWith(t,
		[]string{"--config", file, "--data-dir", "/from/flag"},
		map[string]string{"PAAS_DATA_DIR": "/from/env", "PAAS_LISTEN": "127.0.0.1:2", "PAAS_LOG_LEVEL": "debug"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"data-dir (flag)", s.DataDir, "/from/flag"},
		{"listen (env)", s.Listen, "127.0.0.1:2"},
		{"log-level (env)", s.LogLevel, "debug"},
		{"base-domain (file, underscore key)", s.BaseDomain, "file.test"},
		{"containerd (default)", s.Containerd, "/run/containerd/containerd.sock"},
		{"namespace (default)", s.Namespace, "paas"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if s.ShutdownTimeout != 3*time.Second {
		t.Errorf("shutdown-timeout (file) = %v, want 3s", s.ShutdownTimeout)
	}
}

func TestSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"missing explicit file", []string{"--config", filepath.Join(dir, "nope.toml")}, nil, "no such file"},
		{"missing file from env", nil, map[string]string{"PAAS_CONFIG": filepath.Join(dir, "nope.toml")}, "no such file"},
		{"unknown key", []string{"--config", write("a.toml", "lissen = \":1\"\n")}, nil, `unknown setting "lissen"`},
		{"bad toml", []string{"--config", write("b.toml", "listen = \n")}, nil, "b.toml"},
		{"bad duration env", nil, map[string]string{"PAAS_SHUTDOWN_TIMEOUT": "soon"}, "PAAS_SHUTDOWN_TIMEOUT"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "invalid log level"},
		{"table value", []string{"--config", write("c.toml", "[listen]\nx = 1\n")}, nil, "want a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := resolveWith(t, append([]string{"--data-dir", dir}, c.args...), c.env)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("resolve(%v, %v) = %v; want an error containing %q", c.args, c.env, err, c.want)
			}
		})
	}
}

// TestAPIHostsSetting: --api-hosts comes from the command line, the
// environment or the config file (a string, or a list of strings), and
// a bad name is refused at start.
func TestAPIHostsSetting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "paas.toml")
	if err := os.WriteFile(file, []byte("api-hosts = [\"paas.example.com\", \"Git.Example.com\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"file list", []string{"--config", file}, nil, "paas.example.com,git.example.com"},
		{"env", []string{"--config", file}, map[string]string{"PAAS_API_HOSTS": "env.example.com"}, "env.example.com"},
		{"flag", []string{"--config", file, "--api-hosts", "flag.example.com,other.example.com"}, nil, "flag.example.com,other.example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := resolveWith(t, append([]string{"--data-dir", dir}, c.args...), c.env)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.DeriveAPIHosts(func() (string, error) { return "box", nil })
			if err != nil || strings.Join(got, ",") != c.want {
				t.Errorf("api hosts = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("api-hosts = [\"a.example.com\", 1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--api-hosts", "*.example.com"}, "not wildcards"},
		{[]string{"--api-hosts", "paas.example.com/x"}, "not a valid DNS label"},
		{[]string{"--config", bad}, "want a list of strings"},
	} {
		_, err := resolveWith(t, append([]string{"--data-dir", dir}, c.args...), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("resolve(%v) = %v; want an error containing %q", c.args, err, c.want)
		}
	}
}
