// Package proto holds nodewarden's message schema: the .proto files under nodewarden/v1 and the
// Go code generated from them (package nodewardenv1). `make proto` regenerates the code with the
// pinned buf and protoc-gen-go; TestGeneratedCodeIsFresh fails when the committed code is stale.
package proto
