package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigPath(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{name: "xdg", env: map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/home/u"}, want: "/x/paas/config.json"},
		{name: "home", env: map[string]string{"HOME": "/home/u"}, want: "/home/u/.config/paas/config.json"},
		{name: "relative xdg is ignored", env: map[string]string{"XDG_CONFIG_HOME": "x", "HOME": "/home/u"}, want: "/home/u/.config/paas/config.json"},
		{name: "neither", env: map[string]string{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configPath(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("configPath(%v) error = %v, want error %v", tt.env, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("configPath(%v) = %q, want %q", tt.env, got, tt.want)
			}
		})
	}
}

func TestSaveLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf", "paas", "config.json")
	want := config{URL: "http://paas.example.com:8000", Token: "tok_secret"}
	if err := saveConfig(path, want); err != nil {
		t.Fatalf("saveConfig: %v", err)
	}
	for p, mode := range map[string]fs.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("mode of %s = %v, want %v", p, got, mode)
		}
	}
	got, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("loadConfig after saveConfig (-want +got):\n%s", diff)
	}

	// Saving again replaces the file and leaves no temporary file behind.
	want.Token = ""
	if err := saveConfig(path, want); err != nil {
		t.Fatalf("saveConfig again: %v", err)
	}
	if got, err = loadConfig(path); err != nil || got != want {
		t.Errorf("loadConfig after second save = %+v, %v, want %+v, nil", got, err, want)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("config dir holds %d files, want 1", len(entries))
	}
}

func TestLoadConfigMissing(t *testing.T) {
	_, err := loadConfig(filepath.Join(t.TempDir(), "config.json"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("loadConfig(missing) error = %v, want fs.ErrNotExist", err)
	}
}
