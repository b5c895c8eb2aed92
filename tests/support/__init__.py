"""What the whole suite shares: certificates (:mod:`.pki`), the simulator rig (:mod:`.sim`), a scriptable manager
and tick driver for ``decide`` (:mod:`.manager`), states built directly at a stage (:mod:`.states`), and the docs'
generated copies (:mod:`.generated`)."""
