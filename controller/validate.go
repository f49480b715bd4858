package controller

import (
	"fmt"
	"regexp"
	"strings"
)

// Input rules. They are checked by the API before anything is stored and
// may be checked again by clients to fail early.
var (
	appNameRE     = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)
	userNameRE    = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,38}$`)
	configKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	processTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,29}$`)
	domainLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// Limits on config vars, in bytes.
const (
	MaxConfigKeyLen   = 256
	MaxConfigValueLen = 32 << 10
	MaxConfigVars     = 500
)

// ValidateAppName checks an app name: a lower-case letter, then up to 29
// lower-case letters, digits or dashes.
func ValidateAppName(name string) error {
	if name == "" {
		return Errorf(ErrInvalid, "app name is empty")
	}
	if !appNameRE.MatchString(name) {
		return Errorf(ErrInvalid, "invalid app name %q: use a lower-case letter then up to 29 lower-case letters, digits or dashes", clip(name))
	}
	return nil
}

// ReservedAppPrefix starts the app names that are reserved for the
// platform: apps' images are named paas/<app>:<tag> in the namespace the
// platform's own images share, and the stacks are paas/stack-run and
// paas/stack-build (builder.RunStack, builder.BuildStack): an app named
// stack-run would own, and on destroy prune, the run stack.
const ReservedAppPrefix = "stack-"

// ValidateNewAppName checks the name of an app to be created: the rules of
// ValidateAppName, and not a name reserved for the platform.
func ValidateNewAppName(name string) error {
	if err := ValidateAppName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, ReservedAppPrefix) {
		return Errorf(ErrInvalid, "app name %s is reserved: names starting with %q are the platform's (its stack images are paas/%s*)", name, ReservedAppPrefix, ReservedAppPrefix)
	}
	return nil
}

// ValidateUserName checks a user name: a lower-case letter, then up to 38
// lower-case letters, digits, dots, dashes or underscores.
func ValidateUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return Errorf(ErrInvalid, "invalid user name %q: use a lower-case letter then up to 38 lower-case letters, digits, '.', '-' or '_'", clip(name))
	}
	return nil
}

// ValidateConfigKey checks a config var name as a shell would accept it.
func ValidateConfigKey(key string) error {
	if !configKeyRE.MatchString(key) || len(key) > MaxConfigKeyLen {
		return Errorf(ErrInvalid, "invalid config key %q: use letters, digits and '_', not starting with a digit", clip(key))
	}
	if key == "PORT" || strings.HasPrefix(key, "PAAS_") {
		return Errorf(ErrInvalid, "config key %s is reserved: paas sets it for every instance", key)
	}
	return nil
}

// ValidateConfigValue checks a config var value.
func ValidateConfigValue(key, value string) error {
	if len(value) > MaxConfigValueLen {
		return Errorf(ErrInvalid, "value of %s is %d bytes; the limit is %d", key, len(value), MaxConfigValueLen)
	}
	if strings.ContainsRune(value, 0) {
		return Errorf(ErrInvalid, "value of %s contains a NUL byte", key)
	}
	return nil
}

// ValidateProcessType checks a process type name (web, worker, clock...).
func ValidateProcessType(name string) error {
	if !processTypeRE.MatchString(name) {
		return Errorf(ErrInvalid, "invalid process type %q: use a lower-case letter then lower-case letters, digits, '-' or '_'", clip(name))
	}
	return nil
}

// NormalizeDomain lower-cases a host name, drops one trailing dot, and
// checks it: at least two labels, each a valid DNS label; a leading "*."
// is allowed for a wildcard; no ports, paths or IP addresses.
func NormalizeDomain(name string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if d == "" {
		return "", Errorf(ErrInvalid, "domain is empty")
	}
	if len(d) > 253 {
		return "", Errorf(ErrInvalid, "domain %q is longer than 253 characters", clip(name))
	}
	rest := strings.TrimPrefix(d, "*.")
	labels := strings.Split(rest, ".")
	if len(labels) < 2 {
		return "", Errorf(ErrInvalid, "invalid domain %q: give a full host name such as www.example.com", clip(name))
	}
	for _, l := range labels {
		if !domainLabelRE.MatchString(l) {
			return "", Errorf(ErrInvalid, "invalid domain %q: %q is not a valid DNS label", clip(name), clip(l))
		}
	}
	allDigits := true
	for _, r := range labels[len(labels)-1] {
		if r < '0' || r > '9' {
			allDigits = false
		}
	}
	if allDigits {
		return "", Errorf(ErrInvalid, "invalid domain %q: IP addresses cannot be app domains", clip(name))
	}
	return d, nil
}

// ParseReleaseVersion reads "v3" or "3".
func ParseReleaseVersion(s string) (int, error) {
	var v int
	t := strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
	if _, err := fmt.Sscanf(t, "%d", &v); err != nil || v < 1 || fmt.Sprint(v) != t {
		return 0, Errorf(ErrInvalid, "invalid release version %q: use v1, v2, ...", clip(s))
	}
	return v, nil
}

// clip shortens user input quoted back in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// MaxRequestBody is the largest per-app request body limit an app may set.
const MaxRequestBody int64 = 64 << 30

// ValidateAppUpdate checks an app's new HTTP settings.
func ValidateAppUpdate(u AppUpdate) error {
	if u.ForceHTTPS == nil && u.MaxBodyBytes == nil {
		return Errorf(ErrInvalid, "nothing to change: give force_https or max_body_bytes")
	}
	if m := u.MaxBodyBytes; m != nil && (*m < 0 || *m > MaxRequestBody) {
		return Errorf(ErrInvalid, "invalid max body size %d: use 0 for the router's default, or up to %d bytes (64G)", *m, MaxRequestBody)
	}
	return nil
}
