#!/usr/bin/python3
"""What a desktop session gives an app, for the desktop tests: a notification service
(org.freedesktop.Notifications) and a tray host (org.kde.StatusNotifierWatcher), on the
session bus in DBUS_SESSION_BUS_ADDRESS, and the window manager's close request.

These are the desktop's parts, not ours: the app talks to them through the same D-Bus
protocols a GNOME or KDE session serves, and the test reads what arrives and acts as a user
would (clicks a notification, a tray menu item, a window's close button).

It speaks JSON lines: events on stdout, commands on stdin.
  {"cmd": "menu"}                          -> {"event": "menu", "items": [{"id", "label", ...}]}
  {"cmd": "click", "label": "Quit"}        -> {"event": "clicked", "label": ...}
  {"cmd": "action", "id": 3, "key": "default"} -> {"event": "action-sent"}
  {"cmd": "close-window", "title": "KYC Monitor"} -> {"event": "close-sent"}
  {"cmd": "window-mapped", "title": "KYC Monitor"} -> {"event": "window", "mapped": bool}
Events on their own: {"event": "ready"}, {"event": "notify", ...}, {"event": "tray", ...}.
"""

import json
import os
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

NOTIFICATIONS = "org.freedesktop.Notifications"
WATCHER = "org.kde.StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
DBUSMENU = "com.canonical.dbusmenu"
PROPERTIES = "org.freedesktop.DBus.Properties"


def say(**event):
    print(json.dumps(event), flush=True)


class Notifications(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, "/org/freedesktop/Notifications")
        self.next_id = 1

    @dbus.service.method(NOTIFICATIONS, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["actions", "body"]

    @dbus.service.method(NOTIFICATIONS, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("kyc-monitor-tests", "kyc-monitor", "1", "1.2")

    @dbus.service.method(NOTIFICATIONS, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app_name, replaces_id, icon, summary, body, actions, hints, timeout):
        number = self.next_id
        self.next_id += 1
        say(event="notify", id=number, app=str(app_name), summary=str(summary),
            body=str(body), actions=[str(a) for a in actions])
        return number

    @dbus.service.method(NOTIFICATIONS, in_signature="u", out_signature="")
    def CloseNotification(self, number):
        self.NotificationClosed(number, 3)

    @dbus.service.signal(NOTIFICATIONS, signature="us")
    def ActionInvoked(self, number, key):
        pass

    @dbus.service.signal(NOTIFICATIONS, signature="uu")
    def NotificationClosed(self, number, reason):
        pass


class Watcher(dbus.service.Object):
    """The tray host's side of the StatusNotifierItem protocol."""

    def __init__(self, bus):
        super().__init__(bus, "/StatusNotifierWatcher")
        self.bus = bus
        self.items = []

    @dbus.service.method(WATCHER, in_signature="s", out_signature="", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        # libayatana-appindicator gives its object path; others give a bus name.
        if service.startswith("/"):
            name, path = sender, service
        else:
            name, path = service, "/StatusNotifierItem"
        self.items.append((str(name), str(path)))
        say(event="tray", service=str(name), path=str(path))
        self.StatusNotifierItemRegistered(f"{name}{path}")

    @dbus.service.method(WATCHER, in_signature="s", out_signature="")
    def RegisterStatusNotifierHost(self, service):
        pass

    @dbus.service.signal(WATCHER, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.signal(WATCHER, signature="")
    def StatusNotifierHostRegistered(self):
        pass

    def properties(self):
        return {
            "RegisteredStatusNotifierItems": dbus.Array(
                [f"{n}{p}" for n, p in self.items], signature="s"),
            "IsStatusNotifierHostRegistered": dbus.Boolean(True),
            "ProtocolVersion": dbus.Int32(0),
        }

    @dbus.service.method(PROPERTIES, in_signature="ss", out_signature="v")
    def Get(self, interface, name):
        return self.properties()[name]

    @dbus.service.method(PROPERTIES, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return self.properties()


def flatten(layout, found):
    number, props, children = layout
    found.append({
        "id": int(number),
        "label": str(props.get("label", "")).replace("_", ""),
        "enabled": bool(props.get("enabled", True)),
        "visible": bool(props.get("visible", True)),
        "type": str(props.get("type", "standard")),
        "toggle": int(props["toggle-state"]) if "toggle-state" in props else None,
    })
    for child in children:
        flatten(child, found)
    return found


class Session:
    def __init__(self, bus, watcher, notifications):
        self.bus = bus
        self.watcher = watcher
        self.notifications = notifications

    def menu(self):
        if not self.watcher.items:
            raise RuntimeError("no tray item has registered")
        name, path = self.watcher.items[-1]
        item = self.bus.get_object(name, path)
        menu_path = item.Get(ITEM, "Menu", dbus_interface=PROPERTIES)
        menu = dbus.Interface(self.bus.get_object(name, menu_path), DBUSMENU)
        _, layout = menu.GetLayout(0, -1, dbus.Array([], signature="s"))
        return menu, flatten(layout, [])[1:]

    def handle(self, command):
        kind = command["cmd"]
        if kind == "menu":
            say(event="menu", items=self.menu()[1])
        elif kind == "click":
            menu, items = self.menu()
            matches = [i for i in items if i["label"] == command["label"]]
            if not matches:
                raise RuntimeError(f"no tray menu item {command['label']!r} in {items}")
            menu.Event(matches[0]["id"], "clicked", dbus.Int32(0, variant_level=1), dbus.UInt32(0))
            say(event="clicked", label=command["label"])
        elif kind == "action":
            self.notifications.ActionInvoked(dbus.UInt32(command["id"]), command["key"])
            say(event="action-sent")
        elif kind == "close-window":
            close_window(command["title"])
            say(event="close-sent")
        elif kind == "window-mapped":
            say(event="window", mapped=window_mapped(command["title"]))
        else:
            raise RuntimeError(f"unknown command {kind!r}")


def find_windows(title):
    from Xlib import display
    screen = display.Display()
    found = []

    def walk(window):
        try:
            name = window.get_wm_name()
            children = window.query_tree().children
        except Exception:  # a window that went away meanwhile
            return
        if name == title:
            found.append(window)
        for child in children:
            walk(child)

    walk(screen.screen().root)
    return screen, found


def close_window(title):
    """What a window manager does when the close button is clicked: WM_DELETE_WINDOW."""
    from Xlib import X
    from Xlib.protocol import event
    screen, windows = find_windows(title)
    if not windows:
        raise RuntimeError(f"no window titled {title!r}")
    protocols = screen.intern_atom("WM_PROTOCOLS")
    delete = screen.intern_atom("WM_DELETE_WINDOW")
    for window in windows:
        message = event.ClientMessage(window=window, client_type=protocols,
                                      data=(32, [delete, X.CurrentTime, 0, 0, 0]))
        window.send_event(message, event_mask=X.NoEventMask)
    screen.flush()


def window_mapped(title):
    from Xlib import X
    _, windows = find_windows(title)
    return any(w.get_attributes().map_state == X.IsViewable for w in windows)


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    notifications = Notifications(bus)
    watcher = Watcher(bus)
    names = [dbus.service.BusName(NOTIFICATIONS, bus), dbus.service.BusName(WATCHER, bus)]
    session = Session(bus, watcher, notifications)
    loop = GLib.MainLoop()

    pending = b""

    def on_stdin(fd, condition):
        # Unbuffered: a line Python buffered would wait for the next one to be seen.
        nonlocal pending
        chunk = os.read(fd, 65536)
        if not chunk:
            loop.quit()
            return False
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                session.handle(json.loads(line))
            except Exception as error:  # reported to the test, which fails with it
                say(event="error", message=str(error))
        return True

    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP, on_stdin)
    say(event="ready")
    loop.run()
    del names


if __name__ == "__main__":
    main()
