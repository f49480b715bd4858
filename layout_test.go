package paas

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type goPackage struct {
	ImportPath string
	Doc        string
	Imports    []string
	Name       string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found %d packages; something is off", len(pkgs))
	}
	return pkgs
}

// TestPackagesHaveDocs: every package says what it is for.
func TestPackagesHaveDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

// TestDependencyEdges keeps each library inside the package that owns it:
// gorm only in the store, containerd only in the runtime and builder (and
// the test helpers), traefik only in the router.
func TestDependencyEdges(t *testing.T) {
	rules := []struct {
		prefix  string   // an import path prefix
		allowed []string // the only packages (prefixes) that may import it
	}{
		{"gorm.io/", []string{"paas/controller/internal/store"}},
		{"github.com/glebarez/", []string{"paas/controller/internal/store"}},
		// testenv stands up real network namespaces for tests (Outside).
		{"github.com/containerd/", []string{"paas/runtime", "paas/builder", "paas/bench/", "paas/internal/testenv"}},
		{"github.com/traefik/", []string{"paas/router/internal"}},
	}
	for _, p := range listPackages(t) {
		for _, imp := range p.Imports {
			for _, r := range rules {
				if !strings.HasPrefix(imp, r.prefix) {
					continue
				}
				ok := false
				for _, a := range r.allowed {
					ok = ok || strings.HasPrefix(p.ImportPath, a)
				}
				if !ok {
					t.Errorf("%s imports %s; only %v may", p.ImportPath, imp, r.allowed)
				}
			}
		}
	}
}
