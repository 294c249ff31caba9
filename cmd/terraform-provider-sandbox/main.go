// Command terraform-provider-sandbox is Atoll's sandbox Terraform provider
// (registry.terraform.io/atoll/sandbox), whose cloud is a JSON file; see
// package testdrive/sandbox. Terraform starts it; it is not run by hand.
package main

import "github.com/atollhq/atoll/testdrive/sandbox"

func main() { sandbox.ServeProvider() }
