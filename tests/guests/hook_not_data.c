/* Not an emu hook: `emu_hook` is a function here, which emu must refuse
 * without reading anything from it. */
void emu_hook(void)
{
}
