// Command atoll runs Atoll: `atoll server` serves GitHub webhooks, `atoll
// testdrive` shows the whole product locally, `atoll validate` checks config
// files, `atoll version` prints the version.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/atollhq/atoll/runner"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Atoll brings GitOps to Terraform: plan and apply from pull requests.

Usage:
  atoll server    [flags]   serve GitHub webhooks (see atoll server -h)
  atoll testdrive [flags]   run the whole product locally against a fake GitHub
  atoll drift     [flags] [DIR]   check a local checkout for drift (exit 2 on drift);
                            with --drift-repos, check those GitHub repositories
  atoll validate  [--repo-config repos.yaml] [atoll.yaml ...]   check config files
  atoll version             print the version
`

func main() {
	// The runner starts this binary in terraform's place to pass TF_VAR_*
	// variables through terraform-exec (see runner.ShimMain).
	if runner.IsShim(os.Environ()) {
		os.Exit(runner.ShimMain(os.Args, os.Environ(), os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "server":
		err = runServer(args[1:], stdout, stderr, os.LookupEnv)
	case "testdrive":
		err = runTestdrive(args[1:], stdout, stderr)
	case "drift":
		err = runDrift(args[1:], stdout, stderr, os.LookupEnv)
		if errors.Is(err, errDrifted) {
			return 2
		}
	case "validate":
		return runValidate(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "atoll %s\n", buildVersion())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "atoll: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "atoll %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
