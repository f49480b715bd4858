package cnb

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"paas/buildpacks"
)

func TestLoadOrderBuiltin(t *testing.T) {
	order, err := LoadOrder(buildpacks.FS())
	if err != nil {
		t.Fatal(err)
	}
	type member struct {
		ID       string
		Optional bool
	}
	var got [][]member
	for _, g := range order {
		var ms []member
		for _, m := range g {
			ms = append(ms, member{m.ID, m.Optional})
		}
		got = append(got, ms)
	}
	want := [][]member{
		{{"paas/go", false}, {"paas/procfile", true}},
		{{"paas/node", false}, {"paas/procfile", true}},
		{{"paas/python", false}, {"paas/procfile", true}},
		{{"paas/static", false}, {"paas/procfile", true}},
		{{"paas/procfile", false}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadOrder(built-in) (-want +got):\n%s", diff)
	}
}

func TestLoadBad(t *testing.T) {
	good := "api = \"0.10\"\n[buildpack]\nid = \"me/good\"\nversion = \"1\"\n"
	tests := []struct {
		name  string
		files fstest.MapFS
	}{
		{"no buildpack.toml", fstest.MapFS{"bin/detect": {}, "bin/build": {}}},
		{"bad toml", fstest.MapFS{"buildpack.toml": {Data: []byte("[buildpack\n")}, "bin/detect": {}, "bin/build": {}}},
		{"bad id", fstest.MapFS{"buildpack.toml": {Data: []byte("[buildpack]\nid = \"../x\"\n")}, "bin/detect": {}, "bin/build": {}}},
		{"no build", fstest.MapFS{"buildpack.toml": {Data: []byte(good)}, "bin/detect": {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(tt.files); !errors.Is(err, ErrInvalid) {
				t.Errorf("Load = %v, want ErrInvalid", err)
			}
		})
	}
	bp, err := Load(fstest.MapFS{"buildpack.toml": {Data: []byte(good)}, "bin/detect": {}, "bin/build": {}})
	if err != nil || bp.ID != "me/good" || bp.escaped() != "me_good" {
		t.Errorf("Load(good) = %+v, %v", bp, err)
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		cmd  any
		args []string
		want string
		bad  bool
	}{
		{cmd: "bundle exec puma -p $PORT", want: "bundle exec puma -p $PORT"},
		{cmd: []any{"/bin/server", "--port", "8080"}, want: "/bin/server --port 8080"},
		{cmd: []any{"echo", "it's $HOME"}, want: `echo 'it'\''s $HOME'`},
		{cmd: "node", args: []string{"server.js", "a b"}, want: "node server.js 'a b'"},
		{cmd: []any{"echo", ""}, want: "echo ''"},
		{cmd: "", bad: true},
		{cmd: "two\nlines", bad: true},
		{cmd: 7, bad: true},
		{cmd: []any{"x", 1}, bad: true},
	}
	for _, tt := range tests {
		got, err := commandLine(tt.cmd, tt.args)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("commandLine(%#v, %q) = %q, %v; want %q (error: %v)", tt.cmd, tt.args, got, err, tt.want, tt.bad)
		}
	}
}

func TestLayerEnv(t *testing.T) {
	layer := t.TempDir()
	files := map[string]string{
		"bin/tool":              "",
		"env/JAVA_HOME":         "/l/jdk",
		"env/GREETING.default":  "default",
		"env/FLAGS.append":      "-b",
		"env/FLAGS.delim":       " ",
		"env.build/BUILD_ONLY":  "yes",
		"env.launch/LAUNCH_ONE": "yes",
		"env/CLASSPATH.prepend": "/l/a.jar",
		"env/CLASSPATH.delim":   ":",
	}
	for name, data := range files {
		p := filepath.Join(layer, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := env{"PATH=/usr/bin:/bin", "GREETING=set", "FLAGS=-a", "CLASSPATH=/c.jar"}
	got := start.withLayer(layer, "/layers/me/l", "launch")
	want := env{"PATH=/layers/me/l/bin:/usr/bin:/bin", "GREETING=set", "FLAGS=-a -b", "CLASSPATH=/l/a.jar:/c.jar", "JAVA_HOME=/l/jdk", "LAUNCH_ONE=yes"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("withLayer (-want +got):\n%s", diff)
	}
}
