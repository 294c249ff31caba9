package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// applyEnvAndFile fills every flag not set on the command line from ATOLL_<NAME>
// (upper case, '-' → '_') or, failing that, from the YAML config file named by
// the --config flag (keys are flag names). Precedence: flag > env > file > default.
func applyEnvAndFile(fs *flag.FlagSet, lookupEnv func(string) (string, bool), configPath string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fileVals := map[string]any{}
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return fmt.Errorf("read config file: %w", err)
		}
		var node yaml.Node
		if err := yaml.Unmarshal(data, &node); err != nil {
			return fmt.Errorf("%s: %w", configPath, err)
		}
		if err := node.Decode(&fileVals); err != nil {
			return fmt.Errorf("%s: must be a map of flag names to values: %w", configPath, err)
		}
		var unknown []string
		for k := range fileVals {
			if fs.Lookup(k) == nil {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("%s: unknown keys %s (keys are flag names, e.g. gh-user)", configPath, strings.Join(unknown, ", "))
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := "ATOLL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookupEnv(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
			return
		}
		if v, ok := fileVals[f.Name]; ok {
			var s string
			switch t := v.(type) {
			case string:
				s = t
			case bool:
				s = strconv.FormatBool(t)
			case int:
				s = strconv.Itoa(t)
			case []any:
				parts := make([]string, len(t))
				for i, p := range t {
					parts[i] = fmt.Sprint(p)
				}
				s = strings.Join(parts, ",")
			default:
				s = fmt.Sprint(t)
			}
			if err := fs.Set(f.Name, s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", configPath, f.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
