"""
Twisted's own C{twisted.spread} objects that pbfast builds on, taken once,
when pbfast is first imported.

pbfast can stand in for Twisted's modules: put in C{sys.modules} under their
names, or patched into them by L{pbfast.install}. After either, looking
C{twisted.spread.jelly} (or C{pb}, ...) up by name gives pbfast's module, or
a module whose functions are pbfast's. So everything pbfast needs of Twisted's
implementation -- its unjellier's methods for rare tags, its broker, its
classes and their stock methods, which the native code compares against to
find the classes that keep Twisted's default behaviour -- is read from here,
and this module is never rebound.
"""

from __future__ import annotations

import twisted.spread.banana as banana
import twisted.spread.flavors as flavors
import twisted.spread.jelly as jelly
import twisted.spread.pb as pb

for _module in (banana, jelly, flavors, pb):
    if not _module.__name__.startswith("twisted."):
        raise ImportError(f"pbfast must be imported before it stands in for {_module.__name__}")

# jelly: what the native traversal uses by name.
Jellyable = jelly.Jellyable
InsecureJelly = jelly.InsecureJelly
DummySecurityOptions = jelly.DummySecurityOptions
SecurityOptions = jelly.SecurityOptions
globalSecurity = jelly.globalSecurity
unjellyableRegistry = jelly.unjellyableRegistry
unjellyableFactoryRegistry = jelly.unjellyableFactoryRegistry
_createBlank = jelly._createBlank
_newInstance = jelly._newInstance
_Jellier = jelly._Jellier
_Unjellier = jelly._Unjellier

# flavors: the stock methods. An object on which a hook is found to be one
# of these, bound to it, behaves as Twisted's default, which the native code
# does without calling it.
Copyable_jellyFor = flavors.Copyable.jellyFor
Copyable_getStateToCopyFor = flavors.Copyable.getStateToCopyFor
Copyable_getStateToCopy = flavors.Copyable.getStateToCopy
Copyable_getTypeToCopyFor = flavors.Copyable.getTypeToCopyFor
Copyable_getTypeToCopy = flavors.Copyable.getTypeToCopy
Referenceable_jellyFor = flavors.Referenceable.jellyFor
RemoteCopy_unjellyFor = flavors.RemoteCopy.unjellyFor
RemoteCopy_setCopyableState = flavors.RemoteCopy.setCopyableState
RemoteReference_unjellyFor = pb.RemoteReference.unjellyFor
