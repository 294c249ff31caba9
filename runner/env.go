package runner

import (
	"strings"

	"github.com/atollhq/atoll/redact"
)

// ownPrefixes start the names of Atoll's own settings (and those of the
// Atlantis configuration it reads as-is), matched ignoring case. No child
// process sees them.
var ownPrefixes = []string{"ATOLL_", "ATLANTIS_"}

// childEnv returns env without what no child process (terraform, run and env
// steps, workflow hooks, git, the terraform shim) may see: Atoll's own
// settings (ATOLL_*, ATLANTIS_*) and every variable whose value holds one of
// secrets' values in any form red finds (red.HasSecret; nil for none). When
// that removes part of a git configuration passed through the environment
// (GIT_CONFIG_COUNT, GIT_CONFIG_KEY_<n>, GIT_CONFIG_VALUE_<n>), the whole of
// it goes: git refuses to start with a partial one. Everything else passes,
// in order: cloud credentials, TF_VAR_*, TF_CLI_CONFIG_FILE, proxies, PATH,
// HOME.
//
// It is the one filter of the environment: New applies it to Config.Env once,
// and ShimMain to what it hands terraform.
func childEnv(env []string, red *redact.Redactor) []string {
	out := make([]string, 0, len(env))
	droppedGitConfig := false
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if ownSetting(k) {
			continue
		}
		if red.HasSecret(v) {
			droppedGitConfig = droppedGitConfig || isGitConfigEnv(k)
			continue
		}
		out = append(out, kv)
	}
	if droppedGitConfig {
		kept := out[:0]
		for _, kv := range out {
			if k, _, _ := strings.Cut(kv, "="); !isGitConfigEnv(k) {
				kept = append(kept, kv)
			}
		}
		out = kept
	}
	return out
}

// ownSetting reports whether the variable name is one of Atoll's settings.
func ownSetting(name string) bool {
	for _, p := range ownPrefixes {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return true
		}
	}
	return false
}

// isGitConfigEnv reports whether the variable name is part of a git
// configuration given through the environment.
func isGitConfigEnv(name string) bool {
	return name == "GIT_CONFIG_COUNT" || strings.HasPrefix(name, "GIT_CONFIG_KEY_") || strings.HasPrefix(name, "GIT_CONFIG_VALUE_")
}
