package runner

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// terraform-exec builds terraform's command lines itself, so extra arguments
// (from a step's extra_args or a comment's "-- ARGS") are parsed into its
// options. Only the flags below are understood; anything else is refused with an
// error naming it, rather than silently dropped.

type flagKind int

const (
	flagBool flagKind = iota
	flagString
	flagList
	flagInt
)

var tfFlags = map[string]flagKind{
	"var":            flagList,
	"var-file":       flagList,
	"target":         flagList,
	"replace":        flagList,
	"destroy":        flagBool,
	"refresh":        flagBool,
	"refresh-only":   flagBool,
	"lock":           flagBool,
	"lock-timeout":   flagString,
	"parallelism":    flagInt,
	"backend":        flagBool,
	"backend-config": flagList,
	"upgrade":        flagBool,
	"reconfigure":    flagBool,
	"force-copy":     flagBool,
	"get":            flagBool,
	"plugin-dir":     flagList,
}

// Flags each command accepts. apply runs a saved plan, which fixes variables,
// targets and the planning mode, so terraform refuses those there.
var (
	initFlags   = []string{"backend", "backend-config", "upgrade", "reconfigure", "force-copy", "get", "plugin-dir"}
	planFlags   = []string{"var", "var-file", "target", "replace", "destroy", "refresh", "refresh-only", "lock", "lock-timeout", "parallelism"}
	applyFlags  = []string{"lock", "lock-timeout", "parallelism"}
	importFlags = []string{"var", "var-file", "lock", "lock-timeout"}
)

// tfArgs is a parsed list of terraform flags.
type tfArgs struct {
	order  []string // flag names in the order seen
	bools  map[string]bool
	strs   map[string]string
	lists  map[string][]string
	ints   map[string]int
	rawArg map[string]string // flag name → the argument as written, for errors
}

func parseTFArgs(args []string) (tfArgs, error) {
	a := tfArgs{bools: map[string]bool{}, strs: map[string]string{}, lists: map[string][]string{}, ints: map[string]int{}, rawArg: map[string]string{}}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
			return a, fmt.Errorf("terraform argument %q is not a flag", arg)
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
		kind, ok := tfFlags[name]
		if !ok {
			return a, fmt.Errorf("terraform flag %q is not supported", "-"+name)
		}
		if kind != flagBool && !hasValue {
			if i+1 >= len(args) {
				return a, fmt.Errorf("terraform flag %q needs a value", "-"+name)
			}
			i++
			value = args[i]
		}
		if _, seen := a.rawArg[name]; !seen {
			a.order = append(a.order, name)
			a.rawArg[name] = arg
		}
		switch kind {
		case flagBool:
			b := true
			if hasValue {
				var err error
				if b, err = strconv.ParseBool(value); err != nil {
					return a, fmt.Errorf("terraform flag %q wants true or false", arg)
				}
			}
			a.bools[name] = b
		case flagString:
			a.strs[name] = value
		case flagList:
			a.lists[name] = append(a.lists[name], value)
		case flagInt:
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return a, fmt.Errorf("terraform flag %q wants a positive number", "-"+name+"="+value)
			}
			a.ints[name] = n
		}
	}
	return a, nil
}

// check fails when a flag not in allowed was given.
func (a tfArgs) check(command string, allowed []string) error {
	for _, name := range a.order {
		if !slices.Contains(allowed, name) {
			return fmt.Errorf("terraform %s does not take %q", command, a.rawArg[name])
		}
	}
	return nil
}

func (a tfArgs) has(name string) bool { _, ok := a.rawArg[name]; return ok }

func (a tfArgs) initOptions() ([]tfexec.InitOption, error) {
	if err := a.check("init", initFlags); err != nil {
		return nil, err
	}
	var opts []tfexec.InitOption
	if a.has("backend") {
		opts = append(opts, tfexec.Backend(a.bools["backend"]))
	}
	for _, v := range a.lists["backend-config"] {
		opts = append(opts, tfexec.BackendConfig(v))
	}
	if a.has("upgrade") {
		opts = append(opts, tfexec.Upgrade(a.bools["upgrade"]))
	}
	if a.has("reconfigure") {
		opts = append(opts, tfexec.Reconfigure(a.bools["reconfigure"]))
	}
	if a.has("force-copy") {
		opts = append(opts, tfexec.ForceCopy(a.bools["force-copy"]))
	}
	if a.has("get") {
		opts = append(opts, tfexec.Get(a.bools["get"]))
	}
	for _, v := range a.lists["plugin-dir"] {
		opts = append(opts, tfexec.PluginDir(v))
	}
	return opts, nil
}

func (a tfArgs) planOptions() ([]tfexec.PlanOption, error) {
	if err := a.check("plan", planFlags); err != nil {
		return nil, err
	}
	var opts []tfexec.PlanOption
	for _, v := range a.lists["var"] {
		opts = append(opts, tfexec.Var(v))
	}
	for _, v := range a.lists["var-file"] {
		opts = append(opts, tfexec.VarFile(v))
	}
	for _, v := range a.lists["target"] {
		opts = append(opts, tfexec.Target(v))
	}
	for _, v := range a.lists["replace"] {
		opts = append(opts, tfexec.Replace(v))
	}
	if a.has("destroy") {
		opts = append(opts, tfexec.Destroy(a.bools["destroy"]))
	}
	if a.has("refresh") {
		opts = append(opts, tfexec.Refresh(a.bools["refresh"]))
	}
	if a.has("refresh-only") {
		opts = append(opts, tfexec.RefreshOnly(a.bools["refresh-only"]))
	}
	if a.has("lock") {
		opts = append(opts, tfexec.Lock(a.bools["lock"]))
	}
	if a.has("lock-timeout") {
		opts = append(opts, tfexec.LockTimeout(a.strs["lock-timeout"]))
	}
	if a.has("parallelism") {
		opts = append(opts, tfexec.Parallelism(a.ints["parallelism"]))
	}
	return opts, nil
}

func (a tfArgs) applyOptions() ([]tfexec.ApplyOption, error) {
	if err := a.check("apply", applyFlags); err != nil {
		return nil, err
	}
	var opts []tfexec.ApplyOption
	if a.has("lock") {
		opts = append(opts, tfexec.Lock(a.bools["lock"]))
	}
	if a.has("lock-timeout") {
		opts = append(opts, tfexec.LockTimeout(a.strs["lock-timeout"]))
	}
	if a.has("parallelism") {
		opts = append(opts, tfexec.Parallelism(a.ints["parallelism"]))
	}
	return opts, nil
}

func (a tfArgs) importOptions() ([]tfexec.ImportOption, error) {
	if err := a.check("import", importFlags); err != nil {
		return nil, err
	}
	var opts []tfexec.ImportOption
	for _, v := range a.lists["var"] {
		opts = append(opts, tfexec.Var(v))
	}
	for _, v := range a.lists["var-file"] {
		opts = append(opts, tfexec.VarFile(v))
	}
	if a.has("lock") {
		opts = append(opts, tfexec.Lock(a.bools["lock"]))
	}
	if a.has("lock-timeout") {
		opts = append(opts, tfexec.LockTimeout(a.strs["lock-timeout"]))
	}
	return opts, nil
}
