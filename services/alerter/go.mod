module github.com/nodewarden/nodewarden/services/alerter

go 1.26.0
