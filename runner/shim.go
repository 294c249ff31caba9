package runner

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// terraform-exec refuses to hand TF_VAR_* variables to terraform (it wants
// -var flags), yet Atlantis users set them in the server's environment and in
// workflow env steps. When Config.Shim is set and the job's environment has
// TF_VAR_* variables, the runner runs the shim in terraform's place with the
// real binary and those variables in two variables terraform-exec accepts; the
// shim (ShimMain, in the atoll binary) restores them and execs terraform. The
// values travel only through the environment, as they would have anyway, and
// terraform's own variable precedence is kept.
const (
	shimBinaryEnv = "ATOLL_TF_SHIM_BINARY"
	shimVarsEnv   = "ATOLL_TF_SHIM_VARS"
	tfVarPrefix   = "TF_VAR_"
)

// IsShim reports whether environ asks this process to act as the terraform shim.
func IsShim(environ []string) bool {
	for _, kv := range environ {
		if strings.HasPrefix(kv, shimBinaryEnv+"=") {
			return true
		}
	}
	return false
}

// ShimMain runs the shim: it execs the terraform binary named in the
// environment with args[1:] and the TF_VAR_* variables restored, and without
// its own two variables or any other ATOLL_* or ATLANTIS_* one. It returns
// only on failure, with an exit code.
func ShimMain(args, environ []string, stderr io.Writer) int {
	var bin, varsJSON string
	env := make([]string, 0, len(environ))
	for _, kv := range environ {
		switch {
		case strings.HasPrefix(kv, shimBinaryEnv+"="):
			bin = strings.TrimPrefix(kv, shimBinaryEnv+"=")
		case strings.HasPrefix(kv, shimVarsEnv+"="):
			varsJSON = strings.TrimPrefix(kv, shimVarsEnv+"=")
		default:
			env = append(env, kv)
		}
	}
	var vars map[string]string
	if varsJSON != "" {
		if err := json.Unmarshal([]byte(varsJSON), &vars); err != nil {
			fmt.Fprintf(stderr, "atoll terraform shim: decode variables: %v\n", err)
			return 127
		}
	}
	for k, v := range vars {
		if !strings.HasPrefix(k, tfVarPrefix) {
			fmt.Fprintf(stderr, "atoll terraform shim: refusing variable %q\n", k)
			return 127
		}
		env = append(env, k+"="+v)
	}
	argv := append([]string{bin}, args[1:]...)
	// The runner filtered the environment already; filtering again keeps
	// Atoll's settings out even if the shim is started some other way.
	if err := execProcess(bin, argv, childEnv(env, nil)); err != nil {
		fmt.Fprintf(stderr, "atoll terraform shim: run %s: %v\n", bin, err)
		return 127
	}
	return 0
}

// tfVars removes the TF_VAR_* entries from env and returns them.
func tfVars(env map[string]string) map[string]string {
	vars := map[string]string{}
	for k, v := range env {
		if strings.HasPrefix(k, tfVarPrefix) {
			vars[k] = v
			delete(env, k)
		}
	}
	return vars
}
