package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update if the change is right)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func sampleTable() *table {
	t := newTable("version", "status", "description", "by")
	t.status = 1
	t.add("v12", "succeeded", "Deploy 1a2b3c4", "alice")
	t.add("v11", "failed", "Set FOO, BAR", "bob")
	t.add("v10", "deploying", "Rollback to v8", "")
	t.add("v9", "pending", "Déploiement ünïcode", "zoë")
	t.add("v8", "unknown", "line one\nline two\x1b[31m", "carol")
	return t
}

func TestTableRender(t *testing.T) {
	for _, tt := range []struct {
		file   string
		colour bool
	}{
		{file: "table.golden", colour: false},
		{file: "table-colour.golden", colour: true},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := sampleTable().render(&b, tt.colour); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.file, b.Bytes())
		})
	}
}

func TestFieldsRender(t *testing.T) {
	f := &fields{title: "shop Release v3"}
	f.add("Status", "failed")
	f.add("Reason", "exit status 1")
	f.add("Description", "Deploy 1a2b3c4")
	f.add("Digest", "")
	var b bytes.Buffer
	if err := f.render(&b, false); err != nil {
		t.Fatal(err)
	}
	golden(t, "fields.golden", b.Bytes())
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "plain", want: "plain"},
		{in: "zoë ünïcode", want: "zoë ünïcode"},
		{in: "a\nb\tc", want: `a\nb\tc`},
		{in: "\x1b[2Jgone", want: "?[2Jgone"},
		{in: "del\x7f c1\u009b", want: "del? c1?"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := sanitize(tt.in); got != tt.want {
				t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
