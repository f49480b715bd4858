// Package seal encrypts secrets at rest with AES-256-GCM. The key lives in
// a file of its own (mode 0600, in the data directory), never in the
// database, so a copy of the database alone reveals no config values.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeySize is the length of a key file's key in bytes (AES-256).
const KeySize = 32

// prefix marks a sealed value and its format version.
const prefix = "v1:"

// Sealer encrypts and decrypts short values. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// New returns a Sealer for a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// LoadOrCreateKey reads the key file at path, or creates it with a fresh
// random key (mode 0600, exclusively, so two servers starting at once
// cannot each write their own). A key file readable by others is refused.
func LoadOrCreateKey(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			f.Close()
			return nil, err
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write key file: %w", err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %v: it must be readable by its owner only (chmod 600)", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("key file %s is damaged: want %d base64-encoded bytes", path, KeySize)
	}
	return key, nil
}

// Seal encrypts plaintext with a fresh nonce; additional binds the result
// to a context (such as the app and key it belongs to) so a sealed value
// copied elsewhere does not open.
func (s *Sealer) Seal(plaintext, additional []byte) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, plaintext, additional)
	return prefix + base64.StdEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal produced with the same additional data.
func (s *Sealer) Open(sealed string, additional []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, errors.New("seal: unknown format")
	}
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	n := s.aead.NonceSize()
	if len(b) < n {
		return nil, errors.New("seal: value too short")
	}
	pt, err := s.aead.Open(nil, b[:n], b[n:], additional)
	if err != nil {
		return nil, errors.New("seal: cannot decrypt (wrong key or damaged value)")
	}
	return pt, nil
}
