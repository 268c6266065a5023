module github.com/nodewarden/nodewarden/services/rebooter

go 1.26.0
