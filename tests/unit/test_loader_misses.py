from salt_ext_rest.backend.loader_misses import KnownMisses


class Loader(dict):
    def __init__(self, *args):
        super().__init__(*args)
        self.lookups = 0
        self.destroyed = False

    def __contains__(self, name):
        self.lookups += 1
        return super().__contains__(name)

    def destroy(self):
        self.destroyed = True


def test_misses_are_remembered_hits_always_asked_and_attributes_pass_through():
    loader = Loader({"auto.auth": len})
    known = KnownMisses(loader, ttl=60)
    assert "auto.groups" not in known and "auto.groups" not in known
    assert loader.lookups == 1
    assert "auto.auth" in known and "auto.auth" in known and loader.lookups == 3
    assert known["auto.auth"] is len and list(known) == ["auto.auth"]
    known.destroy()
    assert loader.destroyed


def test_a_module_installed_later_is_found_after_the_ttl():
    loader = Loader()
    known = KnownMisses(loader, ttl=0)
    assert "auto.groups" not in known
    loader["auto.groups"] = list
    assert "auto.groups" in known
