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
	return commandOptions[tfexec.InitOption](a, "init", initFlags)
}

func (a tfArgs) planOptions() ([]tfexec.PlanOption, error) {
	return commandOptions[tfexec.PlanOption](a, "plan", planFlags)
}

func (a tfArgs) applyOptions() ([]tfexec.ApplyOption, error) {
	return commandOptions[tfexec.ApplyOption](a, "apply", applyFlags)
}

func (a tfArgs) importOptions() ([]tfexec.ImportOption, error) {
	return commandOptions[tfexec.ImportOption](a, "import", importFlags)
}

// commandOptions checks a against the flags command accepts and turns the
// flags given into that command's tfexec options, in the order of allowed.
// O is the command's option interface (tfexec.PlanOption, ...).
func commandOptions[O any](a tfArgs, command string, allowed []string) ([]O, error) {
	if err := a.check(command, allowed); err != nil {
		return nil, err
	}
	var opts []O
	for _, name := range allowed {
		if !a.has(name) {
			continue
		}
		for _, o := range flagOptions[name](a, name) {
			opt, ok := o.(O)
			if !ok {
				// A flag listed for a command whose options tfexec does not
				// offer it: a mistake in the lists above.
				return nil, fmt.Errorf("terraform %s cannot pass %q", command, a.rawArg[name])
			}
			opts = append(opts, opt)
		}
	}
	return opts, nil
}

// flagOptions turns a flag given into its tfexec options: one per value of a
// list flag, one for any other flag.
var flagOptions = map[string]func(a tfArgs, name string) []any{
	"var":            listOption(tfexec.Var),
	"var-file":       listOption(tfexec.VarFile),
	"target":         listOption(tfexec.Target),
	"replace":        listOption(tfexec.Replace),
	"backend-config": listOption(tfexec.BackendConfig),
	"plugin-dir":     listOption(tfexec.PluginDir),
	"destroy":        boolOption(tfexec.Destroy),
	"refresh":        boolOption(tfexec.Refresh),
	"refresh-only":   boolOption(tfexec.RefreshOnly),
	"lock":           boolOption(tfexec.Lock),
	"backend":        boolOption(tfexec.Backend),
	"upgrade":        boolOption(tfexec.Upgrade),
	"reconfigure":    boolOption(tfexec.Reconfigure),
	"force-copy":     boolOption(tfexec.ForceCopy),
	"get":            boolOption(tfexec.Get),
	"lock-timeout":   func(a tfArgs, name string) []any { return []any{tfexec.LockTimeout(a.strs[name])} },
	"parallelism":    func(a tfArgs, name string) []any { return []any{tfexec.Parallelism(a.ints[name])} },
}

// listOption builds one option with newOpt for each value of a list flag.
func listOption[T any](newOpt func(string) T) func(tfArgs, string) []any {
	return func(a tfArgs, name string) []any {
		opts := make([]any, len(a.lists[name]))
		for i, v := range a.lists[name] {
			opts[i] = newOpt(v)
		}
		return opts
	}
}

// boolOption builds the option of a boolean flag with newOpt.
func boolOption[T any](newOpt func(bool) T) func(tfArgs, string) []any {
	return func(a tfArgs, name string) []any { return []any{newOpt(a.bools[name])} }
}

// stepArgs parses a terraform step's extra arguments and builds its command's
// options from them with build (tfArgs.planOptions, ...).
func stepArgs[O any](args []string, build func(tfArgs) ([]O, error)) ([]O, error) {
	a, err := parseTFArgs(args)
	if err != nil {
		return nil, err
	}
	return build(a)
}

// DefaultLockTimeout is how long plan, apply and import wait for terraform's
// state lock when the command does not say (-lock-timeout): a drift check,
// another tool or a colleague's run holding the state for a moment makes
// Atoll wait instead of failing the plan or apply.
const DefaultLockTimeout = "1m"

// withLockTimeout adds -lock-timeout=DefaultLockTimeout unless args set
// -lock-timeout or -lock=false.
func withLockTimeout[O any](args []string, opts []O, lockTimeout func(string) O) []O {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "lock-timeout" || name == "lock" {
			return opts
		}
	}
	return append(opts, lockTimeout(DefaultLockTimeout))
}
