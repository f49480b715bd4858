package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// config is what paas login saves: the controller's URL and an API token.
type config struct {
	URL   string `json:"url"`
	Token string `json:"token,omitempty"` // empty after paas logout
}

// configPath returns where the config is kept:
// $XDG_CONFIG_HOME/paas/config.json, else $HOME/.config/paas/config.json.
func configPath(getenv func(string) string) (string, error) {
	dir := getenv("XDG_CONFIG_HOME")
	if !filepath.IsAbs(dir) { // the XDG spec says to ignore a relative one
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("cannot find where to keep the paas config: set HOME or XDG_CONFIG_HOME")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "paas", "config.json"), nil
}

// loadConfig reads the config at path. An error for a missing file wraps
// fs.ErrNotExist.
func loadConfig(path string) (config, error) {
	var c config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	return c, nil
}

// saveConfig writes c to path, readable by its owner only since it holds
// a token. The file is replaced in one step, so a crash leaves the old one.
func saveConfig(path string, c config) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
