package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"paas/controller"
)

// configVar is one KEY=VALUE of config:set.
type configVar struct {
	Key, Value string
}

// parseConfigVars reads KEY=VALUE arguments, in order. A value may hold
// "=" and may be empty; a key may be given once.
func parseConfigVars(args []string) ([]configVar, error) {
	vars := make([]configVar, 0, len(args))
	seen := make(map[string]bool)
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, controller.Errorf(controller.ErrInvalid, "%q is not KEY=VALUE", a)
		}
		if err := controller.ValidateConfigKey(k); err != nil {
			return nil, err
		}
		if err := controller.ValidateConfigValue(k, v); err != nil {
			return nil, err
		}
		if seen[k] {
			return nil, controller.Errorf(controller.ErrInvalid, "%s is given twice", k)
		}
		seen[k] = true
		vars = append(vars, configVar{Key: k, Value: v})
	}
	return vars, nil
}

// parseScale reads TYPE=N arguments into formation updates, in order. A
// bare TYPE, which changes only limits, is accepted if bareOK.
func parseScale(args []string, bareOK bool) ([]controller.ProcessUpdate, error) {
	updates := make([]controller.ProcessUpdate, 0, len(args))
	seen := make(map[string]bool)
	for _, a := range args {
		typ, n, hasN := strings.Cut(a, "=")
		if !hasN && !bareOK {
			return nil, controller.Errorf(controller.ErrInvalid, "%q is not TYPE=N, as in web=2", a)
		}
		if err := controller.ValidateProcessType(typ); err != nil {
			return nil, err
		}
		if seen[typ] {
			return nil, controller.Errorf(controller.ErrInvalid, "%s is given twice", typ)
		}
		seen[typ] = true
		u := controller.ProcessUpdate{Type: typ}
		if hasN {
			// Digits only: "+1" or "-1" would read as a change, not a quantity.
			q, err := strconv.Atoi(n)
			if err != nil || !isDecimal(n) || strings.Contains(n, ".") {
				return nil, controller.Errorf(controller.ErrInvalid, "invalid quantity in %q: use a whole number, 0 or more", a)
			}
			u.Quantity = &q
		}
		updates = append(updates, u)
	}
	return updates, nil
}

// parseMemory reads a memory limit into bytes: a number with an optional
// K, M or G suffix, in powers of 1024 ("512M", "1.5G"; "512MiB", "512mb"
// and a bare number of bytes work too). "0" asks for the server's default.
func parseMemory(s string) (int64, error) {
	units := map[string]float64{
		"": 1, "B": 1,
		"K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
		"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
	}
	num, unit := splitUnit(s)
	mult, ok := units[strings.ToUpper(unit)]
	f, err := strconv.ParseFloat(num, 64)
	b := math.Round(f * mult)
	if !ok || !isDecimal(num) || err != nil || b >= math.MaxInt64 || (b == 0 && f != 0) {
		return 0, controller.Errorf(controller.ErrInvalid, "invalid memory %q: use a size such as 512M or 1G", s)
	}
	return int64(b), nil
}

// parseCPU reads a CPU limit in cores ("0.5", "2") or millicores ("500m")
// into millicores. "0" asks for the server's default.
func parseCPU(s string) (int, error) {
	num, unit := splitUnit(s)
	f, err := strconv.ParseFloat(num, 64)
	exact := f * 1000
	if unit == "m" {
		exact = f
	}
	m := math.Round(exact)
	// Limits are whole millicores; the tolerance absorbs float error (0.57*1000).
	if (unit != "" && unit != "m") || !isDecimal(num) || err != nil ||
		math.Abs(exact-m) > 1e-6 || m > math.MaxInt32 {
		return 0, controller.Errorf(controller.ErrInvalid, "invalid cpu %q: use cores such as 0.5 or 2, or millicores such as 500m", s)
	}
	return int(m), nil
}

// splitUnit splits "512M" into "512" and "M".
func splitUnit(s string) (num, unit string) {
	s = strings.TrimSpace(s)
	num = strings.TrimRightFunc(s, unicode.IsLetter)
	return num, s[len(num):]
}

// isDecimal tells whether s is a plain decimal number such as 2, 0.5 or
// .5, which strconv.ParseFloat also accepts in forms (1e3, 0x1p3, Inf)
// that make no sense for a limit.
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// parseProcessTypes reads TYPE=COMMAND arguments of --process.
func parseProcessTypes(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	types := make(map[string]string, len(args))
	for _, a := range args {
		typ, command, ok := strings.Cut(a, "=")
		if !ok || strings.TrimSpace(command) == "" {
			return nil, controller.Errorf(controller.ErrInvalid, "%q is not TYPE=COMMAND, as in web=\"bin/server\"", a)
		}
		if err := controller.ValidateProcessType(typ); err != nil {
			return nil, err
		}
		if _, dup := types[typ]; dup {
			return nil, controller.Errorf(controller.ErrInvalid, "%s is given twice", typ)
		}
		types[typ] = command
	}
	return types, nil
}

// parseID reads the numeric ID of a key or token.
func parseID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, controller.Errorf(controller.ErrInvalid, "invalid %s ID %q: use the number paas shows", what, s)
	}
	return id, nil
}

// matchKey finds the one key whose ID, fingerprint (with or without its
// "SHA256:") or comment is s.
func matchKey(keys []controller.Key, s string) (controller.Key, error) {
	id, idErr := strconv.ParseInt(s, 10, 64)
	var found []controller.Key
	for _, k := range keys {
		if (idErr == nil && k.ID == id) ||
			(s != "" && (k.Fingerprint == s || k.Fingerprint == "SHA256:"+s || k.Comment == s)) {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return controller.Key{}, controller.Errorf(controller.ErrNotFound, "no SSH key of yours has the ID, fingerprint or comment %q: see paas keys", s)
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, k := range found {
		ids[i] = strconv.FormatInt(k.ID, 10)
	}
	return controller.Key{}, controller.Errorf(controller.ErrInvalid, "%q matches %d keys (IDs %s): give the ID", s, len(found), strings.Join(ids, ", "))
}

// andList joins words as "A", "A and B" or "A, B and C".
func andList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return fmt.Sprintf("%s and %s", strings.Join(words[:len(words)-1], ", "), words[len(words)-1])
}

// commandLine makes paas run's arguments the shell command line the
// instance runs: one argument is a command line already; several are a
// command and its arguments, which are quoted for the shell so that each
// arrives as it was given, as the shell that ran paas handed them over.
func commandLine(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

// shellQuote quotes s for a POSIX shell, leaving words of only safe
// characters as they are.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
