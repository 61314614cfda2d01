export function Avatar(props: { name: string; online?: boolean }) {
  const initials = (props.name || '?')
    .split(/[\s._-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => [...w][0]?.toUpperCase())
    .join('');
  let h = 0;
  for (const ch of props.name) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return (
    <span class={`avatar hue-${h % 12}`} aria-hidden="true">
      {initials || '?'}
      {props.online && <span class="dot" />}
    </span>
  );
}
