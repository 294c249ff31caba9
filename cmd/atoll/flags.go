package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// applyEnvAndFile fills every flag not set on the command line from ATOLL_<NAME>
// (upper case, '-' → '_'), else ATLANTIS_<NAME> (so an Atlantis deployment's
// environment works unchanged), else the YAML config file named by the
// --config flag (keys are flag names). Precedence: flag > ATOLL_* >
// ATLANTIS_* > file > default. It returns the ATLANTIS_* variables it used.
func applyEnvAndFile(fs *flag.FlagSet, lookupEnv func(string) (string, bool), configPath string) ([]string, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fileVals := map[string]any{}
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		var node yaml.Node
		if err := yaml.Unmarshal(data, &node); err != nil {
			return nil, fmt.Errorf("%s: %w", configPath, err)
		}
		if err := node.Decode(&fileVals); err != nil {
			return nil, fmt.Errorf("%s: must be a map of flag names to values: %w", configPath, err)
		}
		var unknown []string
		for k := range fileVals {
			if fs.Lookup(k) == nil {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return nil, fmt.Errorf("%s: unknown keys %s (keys are flag names, e.g. gh-user)", configPath, strings.Join(unknown, ", "))
		}
	}
	var errs []error
	var atlantis []string
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		suffix := strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		for _, env := range []string{"ATOLL_" + suffix, "ATLANTIS_" + suffix} {
			if v, ok := lookupEnv(env); ok {
				if err := fs.Set(f.Name, v); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", env, err))
				}
				if strings.HasPrefix(env, "ATLANTIS_") {
					atlantis = append(atlantis, env)
				}
				return
			}
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
	return atlantis, errors.Join(errs...)
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

// parsedFlags is what parseServerFlags learnt besides the options.
type parsedFlags struct {
	// fromAtlantis are the ATLANTIS_* variables used.
	fromAtlantis []string
	// onCommandLine are the secret flags typed on the command line.
	onCommandLine []string
	// atlantisAccepted are the Atlantis flags set that change nothing
	// ("name=value"): Atoll already does what they ask.
	atlantisAccepted []string
}

// newServerFlags is the flag set of `atoll server` (and of the subcommands
// that wire a server): every option, the Atlantis flags and --config.
func newServerFlags(name string, stderr io.Writer) (*flag.FlagSet, *serverOptions, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := new(serverOptions)
	o.register(fs)
	configFile := fs.String("config", "", "YAML file of flag values (keys are flag names)")
	return fs, o, configFile
}

// parseServerFlags reads the server flags (flag > ATOLL_* > ATLANTIS_* >
// --config file > default), settles the Atlantis ones and validates.
func parseServerFlags(name string, args []string, stderr io.Writer, getenv func(string) (string, bool)) (serverOptions, parsedFlags, error) {
	fs, o, configFile := newServerFlags(name, stderr)
	var pf parsedFlags
	if err := fs.Parse(args); err != nil {
		return *o, pf, err
	}
	// Secrets typed on the command line are visible in /proc/PID/cmdline.
	fs.Visit(func(f *flag.Flag) {
		if secretFlags[f.Name] && f.Value.String() != "" {
			pf.onCommandLine = append(pf.onCommandLine, f.Name)
		}
	})
	// The config file may be named by the environment too (ATLANTIS_CONFIG
	// in an Atlantis deployment); applyEnvAndFile records the variable.
	if *configFile == "" {
		for _, env := range []string{"ATOLL_CONFIG", "ATLANTIS_CONFIG"} {
			if v, ok := getenv(env); ok {
				*configFile = v
				break
			}
		}
	}
	var err error
	if pf.fromAtlantis, err = applyEnvAndFile(fs, getenv, *configFile); err != nil {
		return *o, pf, err
	}
	accepted, errAtlantis := settleAtlantisFlags(fs)
	pf.atlantisAccepted = accepted
	return *o, pf, errors.Join(errAtlantis, o.validate())
}
